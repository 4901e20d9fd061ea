"""The local deployment: a KServe ModelServer process on this machine, started, swapped live to a
new version through v2's repository API, rolled back and stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from cnai.backends import registry
from cnai.core.artifacts import atomic_output
from cnai.core.errors import ServingError
from cnai.core.processes import is_running
from cnai.core.run_dir import home

SERVER_LOG_BYTES = 16 << 20  # the server's own log is rotated past this as a server starts


def serving_dir() -> Path:
    return home() / "serving"


def _paths(model_name: str) -> dict[str, Path]:
    base = serving_dir()
    return {
        "pointer": base / f"{model_name}.json",
        "replaced": base / f"{model_name}.replaced.json",  # what the last live swap replaced, for a roll back
        "pid": base / f"{model_name}.pid",
        "serving": base / f"{model_name}.serving.json",  # written by the server: the version it serves
        "token": base / f"{model_name}.token",  # what the server's repository API (load, unload) asks for
        "log": base / f"{model_name}.log",
        "models": base / "models" / model_name,
    }


def endpoint_url(host: str, port: int) -> str:
    return f"http://{host}:{port}"


def is_ready(url: str, model_name: str, timeout: float = 2.0) -> bool:
    try:
        return requests.get(f"{url}/v2/models/{model_name}/ready", timeout=timeout).status_code == 200
    except requests.RequestException:
        return False


def server_pid(model_name: str) -> int | None:
    try:
        pid = int(_paths(model_name)["pid"].read_text())
    except (OSError, ValueError):
        return None
    return pid if is_running(pid) and _is_model_server(pid) else None


def _is_model_server(pid: int) -> bool:
    """A pid file outlives a reboot, and its number may be another process's now (where /proc
    says what a process runs; elsewhere a running pid is taken at its word)."""
    try:
        return b"cnai.backends.local.model_server" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return False


def port_taken_by_another(host: str, port: int, model_name: str) -> bool:
    """Something listens on host:port, and it is not this project's server of this model: another
    project's server answers to the same model name too (it serves that project's model)."""
    if not listened_on(host, port):
        return False
    return server_pid(model_name) is None or not is_ready(endpoint_url(host, port), model_name)


def listened_on(host: str, port: int, timeout_s: float = 1.0) -> bool:
    """Whether anything accepts connections on host:port."""
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


def port_problem(host: str, port: int) -> str:
    models = cnai_server_models(endpoint_url(host, port))
    if models is not None:
        config = _listener_project(port)
        return (f"{host}:{port} is taken by another cnai project's model server (serving {', '.join(map(repr, models))}): "
                f"`cnai --config {config or '<that project' + chr(39) + 's cnai.yaml>'} stop` stops it; or set "
                "settings.serving_port in cnai.yaml to a free port")
    return (f"{host}:{port} is taken by another process (another project's model server? `cnai --config "
            "<its cnai.yaml> stop` stops it); or set settings.serving_port in cnai.yaml to a free port")


def _listener_project(port: int) -> str | None:
    """The cnai.yaml of the project whose model server listens on `port`, when it is where the
    project keeps its run directory (`<project>/.cnai/serving`, the server's working directory)."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        pid = next(c.pid for c in psutil.net_connections(kind="tcp")
                   if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid)
        config = Path(psutil.Process(pid).cwd()).parent.parent / "cnai.yaml"
    except (StopIteration, OSError, psutil.Error):
        return None
    return str(config) if config.is_file() else None


def cnai_server_models(url: str) -> list[str] | None:
    """The models a cnai model server at `url` serves; None when what answers there is not one (its
    repository API's refusal, asked without the token, is cnai's own)."""
    # Here, not at the top: the server's own module imports pandas and the model code (`cnai stop` needs neither).
    from cnai.backends.local.model_server import REPOSITORY_REFUSAL

    try:
        refusal = requests.get(f"{url}/v2/repository", timeout=1.0)
        if refusal.status_code != 403 or refusal.json().get("error") != REPOSITORY_REFUSAL:
            return None
        return [str(m) for m in requests.get(f"{url}/v2/models", timeout=1.0).json().get("models", [])]
    except (requests.RequestException, ValueError, AttributeError):  # no answer, or not JSON objects
        return None


def served_version(model_name: str) -> dict[str, Any] | None:
    """{version, model_hash, pid} of what the live local server says it serves; None if none runs."""
    pid = server_pid(model_name)
    path = _paths(model_name)["serving"]
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return state if pid is not None and state.get("pid") == pid else None


def deployed_feature_store(model_name: str) -> str:
    """The Feast repo the last deploy of `model_name` reads a request's missing view features from
    ("" for none, or when it is gone): serving a version again by hand (`cnai serve`) keeps it, or
    requests sending only the views' keys are refused for missing features."""
    try:
        store = json.loads(_paths(model_name)["pointer"].read_text()).get("feature_store", "")
    except (OSError, ValueError, AttributeError):
        return ""
    return store if store and Path(store).is_dir() else ""


def deploy_locally(endpoint: str, registry_uri: str, model_name: str, version: str, host: str, port: int,
                   ready_timeout_s: float, feature_store: str = "") -> dict[str, Any]:
    """Serve `version`; if a server is up, swap it in live, else start one. Promote on success.
    With a `feature_store` (a Feast repo) the server reads missing view features from its online store."""
    paths = _paths(model_name)
    model_dir = registry.download_version(registry_uri, model_name, version, paths["models"] / f"v{version}")
    url = endpoint_url(host, port)
    previous = paths["pointer"].read_text() if paths["pointer"].exists() else None
    running = server_pid(model_name) is not None and is_ready(url, model_name)
    if not running:  # refused before the pointer moves: it must keep naming what a live server has
        if (pid := server_pid(model_name)) is not None:  # never a second server, and never lose track of one
            raise ServingError(f"a model server for {model_name} runs (pid {pid}) but does not answer at {url} "
                               "(was settings.serving_port changed?): `cnai stop` stops it, then deploy again")
        if port_taken_by_another(host, port, model_name):
            raise ServingError(f"cannot start the model server for {model_name}: {port_problem(host, port)}")
    with atomic_output(paths["pointer"]) as staging:
        staging.write_text(json.dumps({"version": str(version), "path": str(model_dir),
                                       "model_hash": registry.registered_hash(registry_uri, model_name, version),
                                       "feature_store": str(Path(feature_store).resolve()) if feature_store else ""}))

    if running:
        _load(url, model_name, ready_timeout_s, restore_pointer=previous, paths=paths, version=version)
        if previous is not None and json.loads(previous)["version"] != str(version):
            with atomic_output(paths["replaced"]) as staging:
                staging.write_text(json.dumps({"by": str(version), "pointer": json.loads(previous)}))
    else:
        paths["replaced"].unlink(missing_ok=True)  # a fresh server has nothing to go back to
        process = _start_server(paths, model_name, host, port)
        _wait_ready(url, model_name, process, paths, ready_timeout_s)
    registry.promote(registry_uri, model_name, version)
    with atomic_output(endpoint) as staging:
        staging.write_text(
            f"# Deployed {model_name} v{version}\n\n- Endpoint: {url}\n"
            f"- v2 inference: `POST {url}/v2/models/{model_name}/infer`\n"
            f"- v1 prediction: `POST {url}/v1/models/{model_name}:predict`\n"
            + (f"- Feature views' columns a request lacks are read by key from Feast's online store (`{feature_store}`)\n"
               if feature_store else "")
            + f"- {'Swapped in live on the running server' if running else 'Started a new KServe ModelServer'}"
            + f" (pid {server_pid(model_name)}, log `{paths['log']}`)\n"
        )
    changed = _inputs_changed(previous, model_dir)
    return {"endpoint": url, "version": str(version), "swapped_live": running, **changed,
            "summary": url + (f"; {changed['inputs_changed']}" if changed else ""),
            "output_metadata": {"endpoint": {"url": url, "version": str(version)}}}


def _inputs_changed(previous_pointer: str | None, model_dir: Path) -> dict[str, str]:
    """What a client must now send otherwise than to the version this one replaced: a retrain on a
    changed cnai.yaml swapped in a model of another feature, and clients were refused at once."""
    # Here, not at the top: the saved model's module imports pandas (`cnai stop` needs none of it).
    from cnai.models.saved import META_FILE

    try:
        before = json.loads((Path(json.loads(previous_pointer)["path"]) / META_FILE).read_text())["feature_columns"]
        after = json.loads((Path(model_dir) / META_FILE).read_text())["feature_columns"]
    except (TypeError, ValueError, KeyError, OSError):
        return {}
    added, removed = [c for c in after if c not in before], [c for c in before if c not in after]
    if not added and not removed:
        return {}
    said = ", ".join(part for part in (f"now also {added}" if added else "", f"no longer {removed}" if removed else "") if part)
    return {"inputs_changed": f"the inputs changed ({said}): update the clients"}


def _load(url: str, model_name: str, timeout_s: float, restore_pointer: str | None, paths: dict[str, Path],
          version: str) -> None:
    """Ask the running server to load what the pointer names; on failure put the old pointer back."""
    from cnai.backends.local.model_server import TOKEN_HEADER

    try:
        response = requests.post(f"{url}/v2/repository/models/{model_name}/load", timeout=timeout_s,
                                 headers={TOKEN_HEADER: _read_token(paths)})
        failure = None if response.status_code == 200 else f"{response.status_code}: {response.text[:300]}"
    except requests.RequestException as exc:
        failure = f"no answer: {exc}"
    if failure:
        if restore_pointer is not None:
            with atomic_output(paths["pointer"]) as staging:
                staging.write_text(restore_pointer)  # the old version never stopped serving
        raise ServingError(f"{url}: loading version {version} failed ({failure}); previous version still serving")


def roll_back(registry_uri: str, model_name: str, version: str, url: str, timeout_s: float = 90.0) -> str | None:
    """Serve again what `version` replaced in its live swap, and give it back the `production` alias.
    None when `version` replaced nothing (the first version, or a freshly started server)."""
    paths = _paths(model_name)
    replaced = json.loads(paths["replaced"].read_text()) if paths["replaced"].exists() else None
    if not replaced or replaced["by"] != str(version):
        return None
    current = paths["pointer"].read_text()
    with atomic_output(paths["pointer"]) as staging:
        staging.write_text(json.dumps(replaced["pointer"]))
    previous = replaced["pointer"]["version"]
    _load(url, model_name, timeout_s, restore_pointer=current, paths=paths, version=previous)
    if registry_uri:
        registry.promote(registry_uri, model_name, previous)
    paths["replaced"].unlink(missing_ok=True)
    return previous


def forget_replaced(model_name: str) -> None:
    _paths(model_name)["replaced"].unlink(missing_ok=True)


def _read_token(paths: dict[str, Path]) -> str:
    try:
        return paths["token"].read_text().strip()
    except OSError:
        return ""


def _new_token(paths: dict[str, Path]) -> str:
    """A fresh secret per server start, readable by this user only."""
    import secrets

    token = secrets.token_urlsafe(32)
    paths["token"].parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(paths["token"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(token)
    return token


def _rotate(log: Path, max_bytes: int = SERVER_LOG_BYTES) -> None:
    """The server's own log, past `max_bytes`, becomes `<name>.log.1` (the one before is dropped) as a
    server starts: it must not grow for ever across deploys."""
    if log.exists() and log.stat().st_size > max_bytes:
        log.replace(log.with_name(log.name + ".1"))


def _start_server(paths: dict[str, Path], model_name: str, host: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "CNAI_SERVING_TOKEN": _new_token(paths), "CNAI_SERVING_POINTER": str(paths["pointer"]), "CNAI_SERVING_STATE": str(paths["serving"]),
           "CNAI_SERVING_MODEL": model_name,
           "CNAI_SERVING_HOST": host, "CNAI_SERVING_PORT": str(port)}
    paths["log"].parent.mkdir(parents=True, exist_ok=True)
    _rotate(paths["log"])
    with paths["log"].open("ab") as log_file:
        # A new session, and no inherited pipes: the server outlives this step and its runner.
        process = subprocess.Popen(
            [sys.executable, "-m", "cnai.backends.local.model_server"], env=env, stdin=subprocess.DEVNULL,
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True, cwd=str(paths["log"].parent),
        )
    paths["pid"].write_text(str(process.pid))
    return process


def _wait_ready(url: str, model_name: str, process: subprocess.Popen, paths: dict[str, Path], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if is_ready(url, model_name):
            return
        if process.poll() is not None:
            paths["pid"].unlink(missing_ok=True)
            raise ServingError(f"the model server exited before it was ready; last log lines:\n{_tail(paths['log'])}")
        time.sleep(0.1)  # a deploy waits for this alone: a longer pause was up to as much time lost
    raise ServingError(f"{url}: not ready after {timeout_s:.0f} s; last log lines:\n{_tail(paths['log'])}")


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def project_servers() -> list[str]:
    """The models this project's run directory has a live server for (a model renamed since, when
    data.label or data.task changed, keeps its old name's server until it is stopped)."""
    folder = serving_dir()
    if not folder.is_dir():
        return []

    return sorted(p.stem for p in folder.glob("*.pid") if server_pid(p.stem) is not None)


def stop_server(model_name: str, timeout_s: float = 20.0) -> bool:
    """Stop the local model server; True if one was running."""
    pid = server_pid(model_name)
    if pid is None:
        return False
    os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and server_pid(model_name) is not None:
        time.sleep(0.2)
    if server_pid(model_name) is not None:
        os.killpg(pid, signal.SIGKILL)
    _paths(model_name)["pid"].unlink(missing_ok=True)
    return True
