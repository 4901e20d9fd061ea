"""Calls for the warm interpreter's tests (tests/test_warm_steps.py): a module of its own, because a
call's module is imported in the warm interpreter, where kfp is imported as at run time (without
`dsl.component`, which the test module uses)."""

import os
import sys


def where_am_i(word: str) -> dict:
    """A call for the warm interpreter: where it ran, and what it had imported."""
    print(f"printed by the call: {word}")
    return {"pid": os.getpid(), "word": word, "cwd": os.getcwd(), "env": os.environ.get("CNAI_TEST_MARK"),
            "sklearn": "sklearn" in sys.modules}


def refuses(key: str) -> None:
    from cnai.core.errors import ConfigError

    raise ConfigError(f"{key}: refused by name")


def breaks(marker: str) -> None:
    from pathlib import Path

    with Path(marker).open("a") as calls:
        calls.write("called\n")
    raise ValueError("not ours")
