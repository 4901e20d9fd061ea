"""The Open Inference Protocol (v2) as the model server and the cluster's transformer both speak it."""

from __future__ import annotations


def v2_datatype(values: list) -> str:
    """The v2 datatype of a column of values (the label's own type for predictions; a missing
    value, null, fits any)."""
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return "BOOL"
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "INT64"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "FP64"
    return "BYTES"
