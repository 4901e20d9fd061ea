"""Feast's import without typeguard's instrumentation and without PyTorch (cnai.backends.feast_import):
what every features step and every model server that reads Feast's online store pays first."""

import subprocess
import sys

CHECK = """
import importlib.util, sys
import typeguard
from cnai.backends.feast_import import import_feast

instrumenting = typeguard.typechecked
feast = import_feast("repo_operations")
assert typeguard.typechecked is instrumenting, "typeguard is put back for everyone else"
assert "feast.repo_operations" in sys.modules
names = feast.FeatureView.__init__.__code__.co_names
assert not any("check_argument_types" in name for name in names), names
assert sys.modules.get("torch", "absent") is not None, "torch can be imported after"
if importlib.util.find_spec("torch"):
    import torch
    assert torch.tensor([1]).sum().item() == 1
print("ok")
"""

PLAIN = """
import feast
print(any("check_argument_types" in name for name in feast.FeatureView.__init__.__code__.co_names))
"""


def test_feast_imports_without_typeguard_instrumenting_it_and_torch_still_imports_after():
    checked = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True)
    assert checked.stdout.strip() == "ok", checked.stderr[-2000:]
    # What the check above looks for is there when Feast is imported the plain way.
    plain = subprocess.run([sys.executable, "-c", PLAIN], capture_output=True, text=True, check=True)
    assert plain.stdout.strip() == "True"


OWN_REPO = """
from cnai.backends.feast_import import import_feast
feast = import_feast(instrumented=True)
try:
    feast.Entity(name=7, join_keys=["k"])
except Exception as exc:
    print(type(exc).__name__)
"""


def test_a_teams_own_repo_keeps_feasts_argument_checks():
    """The features step imports Feast checked when the repo is the team's own: a wrong type in it
    is named by typeguard there, not found later as a conversion error deep inside Feast."""
    out = subprocess.run([sys.executable, "-c", OWN_REPO], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "TypeCheckError", out.stdout + out.stderr[-1000:]
