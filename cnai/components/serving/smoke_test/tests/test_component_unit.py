import pytest

from cnai.components.serving.smoke_test.executor import smoke_test_endpoint
from cnai.components.training.train.executor import train_model
from cnai.core.errors import ServingError
from conftest import LABEL, TIME


def test_unreachable_endpoint_fails_with_its_url(training_set, model_features, tmp_path, port):
    paths = {n: str(tmp_path / n) for n in ("model", "holdout", "metrics", "classification_metrics")}
    train_model(training_set, feature_columns=model_features, label=LABEL, timestamp=TIME,
                params={"max_iter": 10}, **paths)
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(ServingError, match=f"{url}/v2/models/m/infer: no answer"):
        smoke_test_endpoint(paths["holdout"], paths["model"], str(tmp_path / "report.md"), url, "m")
    assert not (tmp_path / "report.md").exists()
