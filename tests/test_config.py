from pathlib import Path

import pytest

from cnai.config import load_config
from cnai.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

CONFIG = Path(__file__).resolve().parents[1] / "cnai.yaml"


def test_project_config_loads(project_config):
    assert project_config.tuning.algorithm == "tpe"
    assert project_config.data.label == "delayed"


def test_unknown_key_is_refused_by_name(tmp_path):
    source = (tmp_path / "c.yaml")
    text = CONFIG.read_text().replace("  max_trials: 10", "  max_trial: 10")
    source.write_text(text)
    with pytest.raises(ConfigError, match=r"c\.yaml: tuning\.max_trial: Extra inputs are not permitted"):
        load_config(source)


def test_wrong_type_and_unknown_algorithm_are_refused(tmp_path):
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text().replace("serving_port: 8085", "serving_port: eighty").replace("algorithm: tpe", "algorithm: bayes"))
    with pytest.raises(ConfigError) as error:
        load_config(source)
    assert "settings.serving_port" in str(error.value) and "tuning.algorithm" in str(error.value)


@pytest.mark.parametrize("key, value", [("spark_master", "spark://127.0.0.1:{port}"),
                                        ("lineage_url", "http://127.0.0.1:{port}")])
def test_unreachable_services_are_refused_before_any_step_runs(tmp_path, capsys, monkeypatch, key, value):
    import os
    import socket

    # `cnai run` exports its settings (CNAI_HOME, CNAI_LINEAGE_URL...) into the environment: keep
    # them from leaking into the other tests of this process.
    monkeypatch.setattr(os, "environ", os.environ.copy())

    import yaml

    from cnai.cli import main

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    config["settings"][key] = value.format(port=port)
    config["settings"]["home"] = str(tmp_path / "home")
    config["data"]["expectation_suite"] = str(REPO / "expectations" / "flights.json")
    (tmp_path / "cnai.yaml").write_text(yaml.safe_dump(config))
    assert main(["--config", str(tmp_path / "cnai.yaml"), "run"]) == 2
    assert f"settings.{key}: " in capsys.readouterr().err
    assert not (tmp_path / "home" / "pipeline_root").exists(), "no step may have started"
