"""How every component is built: one image setting, no pip install at run time."""

from __future__ import annotations

import os

from cnai import __version__

# The project image (Dockerfile at the repo root). kfp.local's SubprocessRunner ignores it and runs
# in this environment; on a cluster every step runs in it, so pods need no network.
COMPONENT_IMAGE = os.environ.get("CNAI_COMPONENT_IMAGE", f"ghcr.io/cnai-pipelines/cnai:{__version__}")

COMPONENT_OPTIONS = {"base_image": COMPONENT_IMAGE, "install_kfp_package": False}
