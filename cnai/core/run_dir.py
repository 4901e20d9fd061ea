"""The run directory (`settings.home`): lineage, registry, served models, caches."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """Set by `cnai` from `settings.home` (CNAI_HOME); kfp.local tasks inherit it."""
    return Path(os.environ.get("CNAI_HOME", ".cnai")).resolve()
