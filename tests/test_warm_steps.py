"""Local steps forked from the warm interpreter: the same task as in a new process, its libraries
already imported."""

import json
import os
import sys

import pytest
from kfp import dsl
from kfp.dsl import component_factory

from cnai.backends.local import warm_steps
from cnai.orchestration.console import STEP_LOG
from cnai.orchestration.local_run import run_locally


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def describe(word: str, pause: float = 0.0) -> str:
    import json
    import os
    import sys
    import time

    already = sorted(name for name in ("pandas", "codecarbon", "sklearn", "mlflow", "optuna", "great_expectations",
                                       "cnai.core.config") if name in sys.modules)
    time.sleep(pause)
    import team_code  # only on the PYTHONPATH the run gave its tasks
    from kfp import dsl as kfp_dsl

    return json.dumps({"compile_time_names": hasattr(kfp_dsl, "pipeline"), "word": word, "team": team_code.VALUE, "cwd": os.getcwd(), "env": os.environ.get("CNAI_TEST_MARK"),
                       "kfp_runtime": os.environ.get("_KFP_RUNTIME"), "already": already, "parent": os.getppid()})


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def fails_loudly():
    print("before the failure")
    raise ValueError("the step's own error")


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def exits_with(code: int):
    import sys

    sys.exit(code)


@dsl.component(base_image="python:3.11", install_kfp_package=False)
def leaves_work_for_its_exit(marker: str):
    import atexit
    import concurrent.futures
    import threading
    import time
    from pathlib import Path

    concurrent.futures.ThreadPoolExecutor(1).submit(print, "from a pool's thread")  # its idle thread ends at exit
    threading.Thread(target=lambda: (time.sleep(0.3), Path(marker + ".thread").write_text("joined"))).start()
    atexit.register(lambda: Path(marker).write_text("atexit ran"))
    atexit.register(print, "said at exit, unflushed", end="")
    global LEFT_OPEN
    LEFT_OPEN = open(marker + ".left-open", "w")  # noqa: SIM115 - never closed, as careless code leaves it
    LEFT_OPEN.write("kept")


@dsl.pipeline(name="describing")
def describing(word: str):
    describe(word=word)


@dsl.pipeline(name="describing_twice")
def describing_twice(word: str):
    first = describe(word=word, pause=2.0)
    describe(word=first.output).after(first)


@dsl.pipeline(name="failing")
def failing():
    fails_loudly()


@dsl.pipeline(name="exiting_late")
def exiting_late(marker: str):
    leaves_work_for_its_exit(marker=marker)


@dsl.pipeline(name="exiting")
def exiting(code: int):
    exits_with(code=code)


@pytest.fixture
def project(tmp_path, monkeypatch):
    code = tmp_path / "team"
    code.mkdir()
    (code / "team_code.py").write_text("VALUE = 'from the project'\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(code), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("CNAI_TEST_MARK", "set by the run")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(warm_steps.FRESH_ENV, raising=False)
    return tmp_path


@pytest.fixture
def warm_calls(monkeypatch):
    """tests/warm_calls.py, importable here and so in the fork (a call's module path is its caller's)."""
    import importlib
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    return importlib.import_module("warm_calls")


def output_of(home, task: str) -> dict:
    [executor_output] = list((home / "pipeline_root").rglob(f"{task}/executor_output.json"))
    return json.loads(json.loads(executor_output.read_text())["parameterValues"]["Output"])


@pytest.fixture
def new_interpreter(monkeypatch):
    """A warm interpreter of the test's own, which no earlier task used."""
    monkeypatch.setattr(warm_steps, "_interpreter", None)
    interpreter = warm_steps.start()
    yield interpreter
    interpreter.abandon()


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is used on Linux")
def test_a_task_runs_forked_from_the_warm_interpreter_with_its_own_environment(project, monkeypatch, new_interpreter):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///set-after-the-server-started.db")  # read as MLflow is called
    ok, _ = run_locally(describing_twice, "describing_twice", {"word": "hello"}, project / "home", use_cache=False)
    assert ok
    seen, after = output_of(project / "home", "describe"), output_of(project / "home", "describe-2")
    assert seen["word"] == "hello" and seen["team"] == "from the project"
    assert seen["cwd"] == str(project) and seen["env"] == "set by the run" and seen["kfp_runtime"] == "true"
    # The libraries several steps use were there before the first task imported them; those only
    # later steps use were not, and came in their order while the first task ran (2 s: Optuna's
    # import at least), for the tasks after it. Our own package never is: each task imports it from
    # the files as they are.
    from cnai.backends.local.warm_server import LATER

    assert seen["already"] == ["codecarbon", "pandas", "sklearn"]
    later = [name for name in LATER if name in after["already"]]
    assert later and later == [n for n in LATER if n in ("optuna", "great_expectations", "mlflow")][:len(later)]
    assert set(after["already"]) - set(later) == {"codecarbon", "pandas", "sklearn"}
    assert seen["parent"] == after["parent"] == new_interpreter.process.pid
    assert seen["compile_time_names"] is False  # kfp imported at run time, as in a task's own process


def test_a_task_whose_start_up_settings_differ_starts_a_new_process(project, monkeypatch):
    interpreter = warm_steps.start()
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # read as OpenMP loads, in the server long ago
    ok, _ = run_locally(describing, "describing", {"word": "threads"}, project / "home", use_cache=False)
    assert ok
    seen = output_of(project / "home", "describe")
    assert seen["parent"] != interpreter.process.pid and seen["already"] == []


def test_an_interrupted_task_leaves_the_next_one_its_own_answer(project):
    source = "def f():\n    import time\n    print('working', flush=True)\n    time.sleep(30)\n"
    arguments = ["--executor_input", json.dumps({"inputs": {}, "outputs": {"outputFile": str(project / "out.json")}}),
                 "--function_to_execute", "f"]
    command = ["sh", "-ec", f'... python3 -m kfp.dsl.executor_main {warm_steps.PROGRAM_MARK} "$@"', source, *arguments]
    with pytest.raises(KeyboardInterrupt), warm_steps.task_process(command, dict(os.environ)) as process:
        assert isinstance(process, warm_steps.TaskProcess)
        assert any(line == "working\n" for line in process.stdout)
        raise KeyboardInterrupt  # Ctrl-C while the console reads the task's output
    ok, _ = run_locally(exiting, "exiting", {"code": 0}, project / "home", use_cache=False)
    assert ok  # not the interrupted task's status
    ok, _ = run_locally(exiting, "exiting", {"code": 3}, project / "home", use_cache=False)
    assert not ok


def test_a_warm_interpreter_that_died_is_started_again(project):
    first = warm_steps.start()
    first.process.kill()
    first.process.wait()
    ok, _ = run_locally(describing, "describing", {"word": "again"}, project / "home", use_cache=False)
    assert ok
    assert output_of(project / "home", "describe")["parent"] == warm_steps.start().process.pid != first.process.pid


def test_fresh_processes_when_asked(project, monkeypatch):
    monkeypatch.setenv(warm_steps.FRESH_ENV, "1")
    ok, _ = run_locally(describing, "describing", {"word": "again"}, project / "home", use_cache=False)
    assert ok
    assert output_of(project / "home", "describe")["already"] == []  # a new interpreter imports nothing first


def test_a_failing_task_fails_with_its_traceback_in_its_log(project, capfd):
    ok, _ = run_locally(failing, "failing", {}, project / "home", use_cache=False)
    assert not ok
    [log] = list((project / "home" / "pipeline_root").rglob(STEP_LOG))
    text = log.read_text()
    assert "before the failure" in text and "ValueError: the step's own error" in text and "Traceback" in text
    assert "✗ fails_loudly: failed after" in capfd.readouterr().out


def test_a_task_exit_code_is_kept(project):
    ok, _ = run_locally(exiting, "exiting", {"code": 0}, project / "home", use_cache=False)
    assert ok
    ok, _ = run_locally(exiting, "exiting", {"code": 3}, project / "home", use_cache=False)
    assert not ok


def test_a_task_ends_as_a_python_process_does(project):
    """Its threads joined, its atexit functions run and its output flushed, though the modules
    are not torn down."""
    marker = project / "marker"
    warm_steps.start()
    ok, _ = run_locally(exiting_late, "exiting_late", {"marker": str(marker)}, project / "home", use_cache=False)
    assert ok
    assert marker.read_text() == "atexit ran" and (project / "marker.thread").read_text() == "joined"
    assert (project / "marker.left-open").read_text() == "kept"  # finalized, as a new process's exit would
    [log] = list((project / "home" / "pipeline_root").rglob(STEP_LOG))
    text = log.read_text()
    assert "from a pool's thread" in text and text.endswith("said at exit, unflushed")
    assert "RuntimeWarning" not in text  # nothing a new process would not print


def test_only_kfp_s_lightweight_command_is_forked():
    def step(x: int) -> int:
        return x

    def command_of(**options) -> list[str]:
        spec = component_factory.create_component_from_func(step, base_image="python:3.11", **options).component_spec
        container = spec.implementation.container
        return [*container.command, *container.args]

    source, arguments = warm_steps.component_program(command_of(install_kfp_package=False))
    assert "def step(x: int) -> int:" in source
    assert arguments == ["--executor_input", "{{$}}", "--function_to_execute", "step"]
    # A component that installs packages first runs as kfp.local runs it.
    assert warm_steps.component_program(command_of(packages_to_install=["pandas"], install_kfp_package=False)) is None
    assert warm_steps.component_program(["python", "-m", "kfp.dsl.executor_main"]) is None


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is used on Linux")
def test_a_call_runs_in_a_fork_of_the_warm_interpreter_with_the_caller_s_environment(project, new_interpreter, warm_calls, capfd):
    """cnai's own checks and MLflow record run where scikit-learn and MLflow are imported already."""
    result = warm_steps.call_in_fork(warm_calls.where_am_i, word="hello")
    assert result["pid"] not in (os.getpid(), new_interpreter.process.pid), "a fork of the server, not either process"
    assert result["sklearn"] and result["word"] == "hello"
    assert result["cwd"] == str(project) and result["env"] == "set by the run"
    assert "printed by the call: hello" in capfd.readouterr().out
    assert warm_steps.call_in_fork(warm_calls.where_am_i, word="again")["word"] == "again", "the server answers the next request"


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is used on Linux")
def test_a_call_s_own_error_comes_back_and_another_failure_is_called_here(project, new_interpreter, warm_calls):
    from cnai.core.errors import ConfigError

    with pytest.raises(ConfigError, match="^model.params.x: refused by name$"):
        warm_steps.call_in_fork(warm_calls.refuses, key="model.params.x")
    marker = project / "calls"
    with pytest.raises(ValueError, match="not ours"):  # its traceback is the one of a call here
        warm_steps.call_in_fork(warm_calls.breaks, marker=str(marker))
    assert marker.read_text() == "called\n" * 2, "tried in the fork, then here"
    assert warm_steps.call_in_fork(warm_calls.where_am_i, word="still")["pid"] != os.getpid()


def test_a_call_without_a_warm_interpreter_runs_here(project, warm_calls, monkeypatch):
    monkeypatch.setattr(warm_steps, "_interpreter", None)
    assert warm_steps.call_in_fork(warm_calls.where_am_i, word="here")["pid"] == os.getpid()


@pytest.mark.skipif(sys.platform != "linux", reason="the fork server is used on Linux")
def test_cnai_checks_hyperparameters_without_importing_scikit_learn(tmp_path):
    """`cnai run` imported scikit-learn (seconds, while Spark and the warm interpreter start) only to
    check the hyperparameters; the warm interpreter, which imports it anyway, checks them."""
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import json, sys
        from cnai.backends.local import warm_steps
        from cnai.components.training.tune.executor import check_model_parameters
        from cnai.core.errors import ConfigError
        warm_steps.start()
        kind = {"model_kind_name": "hist_gradient_boosting", "task": "binary",
                "parameters": [{"name": "learning_rate", "parameter_type": "double", "min": 0.03, "max": 0.3}]}
        warm_steps.call_in_fork(check_model_parameters, **kind, fixed={})
        try:
            warm_steps.call_in_fork(check_model_parameters, **kind, fixed={"max_iter": -3})
            refused = None
        except ConfigError as exc:
            refused = str(exc)
        print(json.dumps({"sklearn_here": "sklearn" in sys.modules, "refused": refused}))
    """)
    env = {k: v for k, v in os.environ.items() if k != warm_steps.FRESH_ENV}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout.splitlines()[-1])
    assert said["refused"].startswith("model.params.max_iter: -3 is refused by the model (HistGradientBoostingClassifier")
    assert not said["sklearn_here"]


def test_cnai_run_starts_the_warm_interpreter_before_importing_pandas(tmp_path):
    """The warm interpreter's imports are what the first step waits for: `cnai run` starts it before
    its own heavier imports. `cnai.cli` imported pandas, numpy and pyarrow through the
    configuration's names (0.43 s, for every verb), and the warm interpreter started after them."""
    import subprocess
    import textwrap

    script = textwrap.dedent("""
        import json, sys
        from cnai.backends.local import warm_steps
        import cnai.cli
        imported = sorted(m for m in ("pandas", "numpy", "pyarrow") if m in sys.modules)
        started = []
        warm_steps.start = lambda: started.append(sorted(m for m in ("pandas", "numpy") if m in sys.modules))
        try:
            cnai.cli.main(["--config", "missing.yaml", "run"])
        except BaseException:
            pass
        print(json.dumps({"imported_by_cli": imported, "imported_when_started": started}))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    said = json.loads(run.stdout.splitlines()[-1])
    assert said == {"imported_by_cli": [], "imported_when_started": [[]]}


def test_cnai_stop_imports_neither_pandas_nor_the_model_code(tmp_path):
    """`cnai stop` took 0.55 s here, most of it importing pandas through the model server's module
    and the saved model's, for three names."""
    import subprocess

    (tmp_path / "cnai.yaml").write_text("not: [a valid, project")  # stops the servers of the run directory instead
    (tmp_path / ".cnai").mkdir()
    script = ("import json, sys; import cnai.cli; code = cnai.cli.main(['--config', 'cnai.yaml', 'stop']); "
              "print(json.dumps([code, sorted(m for m in ('pandas', 'numpy', 'sklearn', 'cnai.models.saved') if m in sys.modules)]))")
    env = {k: v for k, v in os.environ.items() if k != "CNAI_HOME"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.splitlines()[-1]) == [0, []]
