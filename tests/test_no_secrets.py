"""No secret value ends up in what we write: compiled pipelines, lineage events, artifact metadata.

Credentials reach steps only as environment variables (locally) or Kubernetes Secrets referenced
by name (on a cluster). Planted values must never be copied into a file someone else reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from cnai.cli import main
from cnai.core.tracking import LocalArtifact, lineage_file, run_step

REPO = Path(__file__).resolve().parents[1]
PLANTED = {  # what a user's shell or a pod's Secret would hold
    "AWS_ACCESS_KEY_ID": "AKIAPLANTEDKEY000001",
    "AWS_SECRET_ACCESS_KEY": "planted-secret-access-key-0123456789",
    "MLFLOW_TRACKING_PASSWORD": "planted-mlflow-password",
    "KF_PIPELINES_TOKEN": "planted-kfp-bearer-token",
}
# Shapes of credentials in general, whatever their value.
CREDENTIAL_SHAPES = [r"AKIA[0-9A-Z]{16}", r"-----BEGIN [A-Z ]*PRIVATE KEY-----", r"(?i)bearer [a-z0-9._-]{20,}",
                     r"(?i)(password|secret_access_key|api_key)\s*[:=]\s*['\"]?[^\s'\"{}$]{6,}"]


@pytest.fixture
def planted(monkeypatch):
    for name, value in PLANTED.items():
        monkeypatch.setenv(name, value)
    return PLANTED


def assert_clean(text: str, where: str) -> None:
    for value in PLANTED.values():
        assert value not in text, f"{where} holds a planted secret"
    for shape in CREDENTIAL_SHAPES:
        match = re.search(shape, text)
        assert match is None, f"{where} holds something shaped like a credential: {match.group(0)[:40]!r}"


@pytest.mark.parametrize("target", ["local", "kubeflow"])
def test_compiled_pipelines_and_components_hold_no_secret(planted, tmp_path, target):
    assert main(["--config", str(REPO / "cnai.yaml"), "compile", "--output-dir", str(tmp_path), "--target", target]) == 0
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".yaml" for p in written)
    for path in written:
        assert_clean(path.read_text(), str(path.relative_to(tmp_path)))
    # On a cluster the steps get the object store's keys from the Secret, by name only.
    assert "cnai-object-store" in (tmp_path / "pipelines" / "cnai-training.yaml").read_text() or target == "local"


def test_lineage_events_and_artifact_metadata_hold_no_secret(planted, tmp_path):
    def step(source: str, out: str, threshold: float) -> dict:
        Path(out).write_text(Path(source).read_text())
        return {"rows": 1}

    (tmp_path / "in.txt").write_text("x")
    before = lineage_file().read_text() if lineage_file().exists() else ""
    out = LocalArtifact(str(tmp_path / "out.txt"))
    run_step("copy", step, inputs={"source": str(tmp_path / "in.txt")}, outputs={"out": out}, params={"threshold": 0.5})
    with pytest.raises(RuntimeError):  # a failing step's error facet carries its stack trace: still no secret
        run_step("broken", lambda out: (_ for _ in ()).throw(RuntimeError("boom")), outputs={"out": LocalArtifact(str(tmp_path / "o"))})
    events = lineage_file().read_text()[len(before):]
    assert events.count("\n") == 4
    assert_clean(events, "lineage events")
    assert_clean(json.dumps(out.metadata), "artifact metadata")


def test_config_refuses_credentials_written_into_it(tmp_path):
    """cnai.yaml is committed: a password pasted into it would be too (and into every compiled pipeline)."""
    import yaml

    from cnai.core.config import load_config
    from cnai.core.errors import ConfigError

    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    config["settings"]["lineage_url"] = "http://user:planted-password@marquez:5000"
    path = tmp_path / "cnai.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match="settings.lineage_url"):
        load_config(path)
