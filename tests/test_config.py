from pathlib import Path

import pytest

from cnai.config import load_config
from cnai.errors import ConfigError

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
