"""A step's progress: lines it prints to its output with a mark, which the local console shows
beside the running step (a terminal's live line; elsewhere now and then), and its log keeps."""

from __future__ import annotations

MARK = "cnai progress: "


def say_progress(text: str) -> None:
    print(f"{MARK}{text}", flush=True)


def progress_in(line: str) -> str | None:
    """What a line of a step's output says of its progress, if it is such a line."""
    return line[len(MARK):].strip() if line.startswith(MARK) else None
