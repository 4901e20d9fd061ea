"""The served model is always the registered one: what an adversarial pass broke, reproduced.

A registry started again from scratch (its v1 is not the old v1), a deploy killed between the
swap and the promotion, a registry that cannot be read, and an emptied registry under a serving
server each end in the registered files serving, or in our own error naming the registry.
"""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pandas as pd
import pytest
import requests
import yaml

from cnai.backends import registry
from cnai.backends.local.deployment import _paths, served_version, stop_server
from cnai.backends.local.model_server import v2_request
from cnai.components.registry.register.executor import register_model
from cnai.components.serving.deploy.executor import deploy_model
from cnai.core.errors import RegistryError, ServingError
from cnai.models.saved import LoadedModel
from conftest import free_port


@pytest.fixture(scope="module")
def two_models(trained_model, training_set, model_features, tmp_path_factory) -> dict[str, dict[str, str]]:
    """The shared trained model, and a second one that answers differently."""
    from cnai.components.training.train.executor import train_model

    out = tmp_path_factory.mktemp("other-model")
    other = {n: str(out / n) for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(training_set, feature_columns=model_features, label="delayed", timestamp="time_hour",
                params={"max_iter": 10, "learning_rate": 0.5}, **other)
    return {"good": trained_model, "other": other}


@pytest.fixture
def name():
    model_name = f"reg-{uuid.uuid4().hex[:6]}"
    yield model_name
    stop_server(model_name)


def register(model_dir: str, training_set: str, uri: str, name: str, tmp_path) -> str:
    (tmp_path / "eval.md").write_text("gate")
    return register_model(model_dir, training_set, str(tmp_path / "eval.md"), str(tmp_path / "card.md"), uri, name)["version"]


def answers(url: str, name: str, rows: pd.DataFrame) -> dict:
    response = requests.post(f"{url}/v2/models/{name}/infer", json=v2_request(rows), timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    return {"version": body["model_version"], **{o["name"]: o["data"] for o in body["outputs"]}}


def expected(model_dir: str, rows: pd.DataFrame) -> list[float]:
    model = LoadedModel(model_dir)
    return list(model.class_probabilities(model.scores(rows)).values())[1]


def rows_of(models) -> pd.DataFrame:
    return pd.read_parquet(models["good"]["holdout"]).head(5)[LoadedModel(models["good"]["model"]).feature_columns]


def test_a_new_registry_s_v1_never_serves_the_old_v1_s_files(two_models, training_set, name, tmp_path):
    rows = rows_of(two_models)
    old_uri = registry.default_registry_uri(tmp_path / "old")
    port = free_port()
    assert register(two_models["good"]["model"], training_set, old_uri, name, tmp_path) == "1"
    deploy_model(str(tmp_path / "endpoint.md"), old_uri, name, "1", port=port)
    stop_server(name)
    # The registry file is deleted: a new one numbers the next model v1 too.
    new_uri = registry.default_registry_uri(tmp_path / "new")
    assert register(two_models["other"]["model"], training_set, new_uri, name, tmp_path) == "1"
    url = deploy_model(str(tmp_path / "endpoint.md"), new_uri, name, "1", port=port)["endpoint"]
    served = answers(url, name, rows)
    assert served["probability_1"] == pytest.approx(expected(two_models["other"]["model"], rows))
    assert served["probability_1"] != pytest.approx(expected(two_models["good"]["model"], rows))
    assert served_version(name)["model_hash"] == registry.registered_hash(new_uri, name, "1")


def test_the_server_refuses_files_that_are_not_the_registered_version(trained_model):
    from cnai.backends.local.model_server import _server_classes

    served_model_class, _ = _server_classes()
    with pytest.raises(ServingError, match="not to version 3's registered sha256:0000"):
        served_model_class("m", trained_model["model"], "3", None, "sha256:0000").load()


def test_a_deploy_killed_between_the_swap_and_the_promotion_is_repaired_at_the_next_start(
        two_models, training_set, name, project_config, tmp_path, monkeypatch):
    from cnai.orchestration.serve import serve_production

    rows = rows_of(two_models)
    uri, port = registry.default_registry_uri(tmp_path / "registry"), free_port()
    good = register(two_models["good"]["model"], training_set, uri, name, tmp_path)
    other = register(two_models["other"]["model"], training_set, uri, name, tmp_path)
    url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, good, port=port)["endpoint"]

    def killed(*args, **kwargs):
        raise KeyboardInterrupt("kill -9")  # the step dies where the alias would have moved

    with monkeypatch.context() as patch:
        patch.setattr(registry, "promote", killed)
        with pytest.raises(KeyboardInterrupt):
            deploy_model(str(tmp_path / "endpoint.md"), uri, name, other, port=port)
    assert answers(url, name, rows)["version"] == other, "the half-done deploy: never smoke-tested, serving"
    assert str(registry.production_version(uri, name).version) == good

    settings = project_config.settings.model_copy(update={"model_name": name, "serving_port": port})
    # What `cnai run` and `cnai monitor` do before their pipeline (check_before_running), so that
    # their deploy never records the untested version as the one to roll back to.
    serve_production(project_config.model_copy(update={"settings": settings}), uri, start=False)
    served = answers(url, name, rows)
    assert served["version"] == good
    assert served["probability_1"] == pytest.approx(expected(two_models["good"]["model"], rows))
    assert not _paths(name)["replaced"].exists(), "a later roll back must not go to the unapproved version"


def test_a_registry_that_cannot_be_read_stops_the_run_by_name(trained_model, training_set, name, tmp_path):
    uri = registry.default_registry_uri(tmp_path / "registry")
    version = register(trained_model["model"], training_set, uri, name, tmp_path)
    registry.promote(uri, name, version)
    database = tmp_path / "registry" / "mlflow" / "mlflow.db"
    damaged = bytearray(database.read_bytes())
    damaged[8192:16384] = random.Random(0).randbytes(8192)  # 8 KB of the file overwritten
    # Read as the next run would, in a fresh process (this one's SQLite connections cache pages).
    uri = registry.default_registry_uri(tmp_path / "damaged")
    (tmp_path / "damaged" / "mlflow").mkdir(parents=True)
    (tmp_path / "damaged" / "mlflow" / "mlflow.db").write_bytes(bytes(damaged))
    with pytest.raises(RegistryError, match=f"model registry {uri}: could not read the production alias"):
        registry.production_version(uri, name)
    with pytest.raises(RegistryError, match="could not search the versions"):
        registry.find_version(uri, name, "sha256:x")


def test_an_emptied_registry_under_a_serving_server_is_a_conflict_not_a_first_model(
        trained_model, training_set, name, tmp_path):
    from cnai.components.evaluation.evaluate.executor import evaluate_candidate
    from cnai.core.tasks import no_minimum

    uri = registry.default_registry_uri(tmp_path / "registry")
    version = register(trained_model["model"], training_set, uri, name, tmp_path)
    deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=free_port())
    empty = registry.default_registry_uri(tmp_path / "emptied")
    with pytest.raises(RegistryError, match=f"no production version of {name}, yet the local model server .* serves its v1"):
        evaluate_candidate(trained_model["model"], trained_model["holdout"], str(tmp_path / "gate.md"), empty, name,
                           "roc_auc", 0.0, no_minimum("roc_auc"))
    assert not (tmp_path / "gate.md").exists()
    assert json.loads(_paths(name)["pointer"].read_text())["version"] == version


def test_the_smoke_test_s_requests_are_not_traffic_for_the_drift_check(trained_model, training_set, name, tmp_path):
    """A drift check right after a deploy found drift in 11 features: the inference log held the
    smoke test's own holdout rows. They are answered, and kept out of the log."""
    from cnai.backends.local.deployment import serving_dir
    from cnai.backends.local.model_server import inference_log_dir
    from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
    from cnai.core.inference_log import read_inference_log

    uri = registry.default_registry_uri(tmp_path / "registry")
    version = register(trained_model["model"], training_set, uri, name, tmp_path)
    url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=free_port())["endpoint"]
    smoke_test_endpoint(trained_model["holdout"], trained_model["model"], str(tmp_path / "smoke.md"), url, name, version)
    rows = pd.read_parquet(trained_model["holdout"]).head(2)[LoadedModel(trained_model["model"]).feature_columns]
    answers(url, name, rows)  # real traffic
    logged = read_inference_log(inference_log_dir(serving_dir(), name))
    assert len(logged) == 2


def test_a_server_on_another_port_is_never_doubled_or_lost(trained_model, training_set, name, tmp_path):
    """settings.serving_port changed while a server ran: `cnai serve` started a second one, the pid
    file was overwritten, and `cnai stop` then said no server ran while the first held its port."""
    from cnai.backends.local.deployment import server_pid

    uri = registry.default_registry_uri(tmp_path / "registry")
    version = register(trained_model["model"], training_set, uri, name, tmp_path)
    deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=free_port())
    first = server_pid(name)
    with pytest.raises(ServingError, match=rf"a model server for {name} runs \(pid {first}\) but does not answer"):
        deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=free_port())
    assert server_pid(name) == first
    assert json.loads(_paths(name)["pointer"].read_text())["version"] == version, "the pointer did not move"
    assert stop_server(name) is True


def test_the_v2_model_metadata_lists_the_features_a_request_needs(trained_model, training_set, name, tmp_path):
    uri = registry.default_registry_uri(tmp_path / "registry")
    version = register(trained_model["model"], training_set, uri, name, tmp_path)
    url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, version, port=free_port())["endpoint"]
    metadata = requests.get(f"{url}/v2/models/{name}", timeout=5).json()
    model = LoadedModel(trained_model["model"])
    assert [i["name"] for i in metadata["inputs"]] == model.feature_columns
    declared = {i["name"]: i["datatype"] for i in metadata["inputs"]}
    integers = set(model.meta["integer"])
    # Whole-number features were listed FP64, a client reading the metadata sent 3.0 for a month.
    assert integers and {declared[c] for c in integers} == {"INT64"}
    assert {declared[c] for c in model.meta["numeric"] if c not in integers} == {"FP64"}
    assert [o["name"] for o in metadata["outputs"]] == ["prediction", *(f"probability_{c}" for c in model.classes)]


def test_a_renamed_model_s_old_server_is_this_project_s_not_a_stranger(two_models, training_set, name, tmp_path, capsys):
    """Changing data.task renames the model (label-task): the project's own server, still serving
    the old name on the port, was refused as "another process", and `cnai stop` said no server ran."""
    from cnai.backends.local.deployment import project_servers, server_pid
    from cnai.core.config import load_config
    from cnai.orchestration.project import check_before_running

    uri, port = registry.default_registry_uri(tmp_path / "registry"), free_port()
    register(two_models["good"]["model"], training_set, uri, name, tmp_path)
    deploy_model(str(tmp_path / "endpoint.md"), uri, name, "1", port=port)
    assert name in project_servers()
    config_path = tmp_path / "cnai.yaml"
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "cnai.yaml").read_text())
    raw["settings"] = {**raw.get("settings", {}), "serving_port": port, "model_name": f"{name}-renamed"}
    config_path.write_text(yaml.safe_dump(raw))
    check_before_running(load_config(config_path), config_path, uri)  # no "taken by another process"
    assert f"stopping this project's model server for {name!r}" in capsys.readouterr().out
    assert server_pid(name) is None


def test_another_projects_cnai_server_on_the_port_is_named_as_one(two_models, training_set, name, tmp_path, monkeypatch):
    """Found by a new user: the port held by their other cnai project's model server was refused as
    held by "another process"."""
    from cnai.core.config import load_config
    from cnai.core.errors import ConfigError
    from cnai.orchestration.project import check_before_running

    uri, port = registry.default_registry_uri(tmp_path / "registry"), free_port()
    register(two_models["good"]["model"], training_set, uri, name, tmp_path)
    deploy_model(str(tmp_path / "endpoint.md"), uri, name, "1", port=port)
    config_path = tmp_path / "second" / "cnai.yaml"
    config_path.parent.mkdir()
    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "cnai.yaml").read_text())
    raw["settings"] = {**raw.get("settings", {}), "serving_port": port, "model_name": f"{name}-second"}
    config_path.write_text(yaml.safe_dump(raw))
    with monkeypatch.context() as second_project:
        second_project.setenv("CNAI_HOME", str(config_path.parent / ".cnai"))
        with pytest.raises(ConfigError) as refused:
            check_before_running(load_config(config_path), config_path, uri)
    assert (f"settings.serving_port: 127.0.0.1:{port} is taken by another cnai project's model server (serving {name!r}): "
            "`cnai --config <that project's cnai.yaml> stop` stops it") in str(refused.value)
    # From a new user's trial: which project that is, when its server runs from <project>/.cnai/serving.
    from cnai.backends.local.deployment import serving_dir

    first = serving_dir().parent.parent / "cnai.yaml"
    first.write_text(yaml.safe_dump(raw))
    try:
        with monkeypatch.context() as second_project:
            second_project.setenv("CNAI_HOME", str(config_path.parent / ".cnai"))
            with pytest.raises(ConfigError) as refused:
                check_before_running(load_config(config_path), config_path, uri)
        assert f"`cnai --config {first} stop` stops it" in str(refused.value)
    finally:
        first.unlink()


def test_run_and_monitor_put_production_back_before_their_pipeline(project_config, tmp_path, monkeypatch):
    """The repair ran only after a successful run: a run's own deploy could come first and record the
    never-tested version as the one to roll back to."""
    import cnai.orchestration.serve as serve
    from cnai.orchestration.project import check_before_running

    calls = []
    monkeypatch.setattr(serve, "serve_production", lambda config, uri, start=True: calls.append((uri, start)))
    uri = registry.default_registry_uri(tmp_path / "registry")
    check_before_running(project_config, tmp_path / "cnai.yaml", uri)
    assert calls == [(uri, False)], "a running server is put right; none is started"


def test_serving_a_version_by_hand_or_after_a_stop_keeps_the_feature_store(
        two_models, training_set, name, project_config, tmp_path):
    """`cnai serve --version 2` rewrote the pointer with "feature_store": "", so requests sending only
    a view's key were refused for missing features."""
    from cnai.orchestration.serve import make_production, serve_production

    uri, port = registry.default_registry_uri(tmp_path / "registry"), free_port()
    good = register(two_models["good"]["model"], training_set, uri, name, tmp_path)
    other = register(two_models["other"]["model"], training_set, uri, name, tmp_path)
    store = tmp_path / "feature_store"
    store.mkdir()
    url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, good, port=port, feature_store=str(store))["endpoint"]
    settings = project_config.settings.model_copy(update={"model_name": name, "serving_port": port})
    config = project_config.model_copy(update={"settings": settings})

    # From a new user's trial: an unknown version was told to look in `cnai lineage`, which lists none.
    from cnai.core.errors import ConfigError

    with pytest.raises(ConfigError, match=rf"--version 99: {name} has no such registered version .*; its registered "
                                          rf"versions are {good}, {other}$"):
        make_production(uri, name, "99")
    make_production(uri, name, other)
    serve_production(config, uri, by_hand=True)
    assert answers(url, name, rows_of(two_models))["version"] == other
    assert json.loads(_paths(name)["pointer"].read_text())["feature_store"] == str(store.resolve())
    stop_server(name)
    serve_production(config, uri)
    assert answers(url, name, rows_of(two_models))["version"] == other
    assert json.loads(_paths(name)["pointer"].read_text())["feature_store"] == str(store.resolve())


def test_cnai_stop_stops_the_projects_server_even_when_its_cnai_yaml_does_not_load(
        trained_model, training_set, name, tmp_path, monkeypatch, capsys):
    """`cnai stop` exited 2 with the configuration's error and left the model server running."""
    from cnai.backends.local.deployment import server_pid
    from cnai.cli import main
    from cnai.orchestration.project import home_without_config

    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("CNAI_HOME", str(project / "run"))
    uri = registry.default_registry_uri(project / "run")
    deploy_model(str(tmp_path / "endpoint.md"), uri, name, register(trained_model["model"], training_set, uri, name, tmp_path),
                 port=free_port())
    assert server_pid(name) is not None
    try:
        config = project / "cnai.yaml"
        config.write_text("settings: {home: run, serving_prot: 8085}\n")  # a typo: the file does not load
        monkeypatch.setenv("CNAI_HOME", "/nowhere")  # the run directory is found from the file, not inherited
        assert main(["--config", str(config), "stop"]) == 0
        assert server_pid(name) is None
        said = capsys.readouterr()
        assert "serving_prot" in said.err and f"stopping the model servers of the run directory {project / 'run'} (its " \
                                              "settings.home)" in said.err
        assert f"stopped this project's model server for {name!r}" in said.out

        config.write_text("settings: {home: run\n")  # not YAML at all: the default run directory beside it
        assert home_without_config(config) == (project / ".cnai", "the default settings.home (.cnai) beside it")
        assert main(["--config", str(config), "stop"]) == 2
        assert f"no run directory at {project / '.cnai'}" in capsys.readouterr().err
    finally:  # the run directory's server, whatever the test found
        monkeypatch.setenv("CNAI_HOME", str(project / "run"))
        stop_server(name)


def test_a_smoke_test_that_cannot_check_a_version_rolls_it_back_and_the_run_says_what_serves(
        two_models, training_set, name, project_config, tmp_path, monkeypatch, capsys):
    """The smoke test's v1 request crashed (a Timestamp JSON could not carry): the run printed FAILED
    and no endpoint, while the unchecked version stayed served and production."""
    from cnai.components.serving.smoke_test import executor as smoke
    from cnai.orchestration.serve import print_serving_after_failure

    uri, port = registry.default_registry_uri(tmp_path / "registry"), free_port()
    good = register(two_models["good"]["model"], training_set, uri, name, tmp_path)
    other = register(two_models["other"]["model"], training_set, uri, name, tmp_path)
    url = deploy_model(str(tmp_path / "endpoint.md"), uri, name, good, port=port)["endpoint"]
    config = project_config.model_copy(update={"settings": project_config.settings.model_copy(
        update={"model_name": name, "serving_port": port})})

    def unbuildable(frame):
        raise TypeError("Object of type Timestamp is not JSON serializable")

    monkeypatch.setattr(smoke, "v1_request", unbuildable)
    with pytest.raises(ServingError, match=f"smoke test of version {good} failed \\(TypeError: Object of type Timestamp.*"
                                           f"version {good} stays served and production: no earlier version"):
        smoke.smoke_test_endpoint(two_models["good"]["holdout"], two_models["good"]["model"], str(tmp_path / "s1.md"),
                                  url, name, good, registry_uri=uri)
    deploy_model(str(tmp_path / "endpoint.md"), uri, name, other, port=port)
    with pytest.raises(ServingError, match=f"TypeError.*; rolled back: version {good} is serving again and is production"):
        smoke.smoke_test_endpoint(two_models["other"]["holdout"], two_models["other"]["model"], str(tmp_path / "s2.md"),
                                  url, name, other, registry_uri=uri)
    assert answers(url, name, rows_of(two_models))["version"] == good
    assert str(registry.production_version(uri, name).version) == good
    print_serving_after_failure(config)
    assert capsys.readouterr().out == f"Now serving {name} v{good} at {url} (POST {url}/v2/models/{name}/infer).\n"


def test_a_deploy_says_when_the_inputs_clients_send_changed(tmp_path):
    """From a new user's trial: a retrain on a cnai.yaml with a new derived feature swapped in a model
    whose requests need it, and clients were refused at once; the deploy and the smoke test said nothing."""
    from cnai.backends.local.deployment import _inputs_changed
    from cnai.models.saved import META_FILE

    for name, features in (("v1", ["age", "yrs_married"]), ("v2", ["age", "age_at_marriage"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / META_FILE).write_text(json.dumps({"feature_columns": features}))
    pointer = json.dumps({"version": "1", "path": str(tmp_path / "v1")})
    assert _inputs_changed(pointer, tmp_path / "v2") == {
        "inputs_changed": "the inputs changed (now also ['age_at_marriage'], no longer ['yrs_married']): update the clients"}
    assert _inputs_changed(pointer, tmp_path / "v1") == {} and _inputs_changed(None, tmp_path / "v2") == {}
