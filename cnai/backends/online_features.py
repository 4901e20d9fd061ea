"""Feature values at serving time: what a request does not carry is read from Feast's online store.

A model trained on events joined with feature views needs those views' columns at serving too. A
caller that has only the event (its entity keys: a customer id, a store, a product) sends the join
keys; the server asks Feast's online store for the latest value of each view's features by key,
as Feast is meant to be used (the features step materialized that store). Locally the store is the
run's SQLite one; on a cluster the same code runs in the InferenceService's transformer against the
Redis online store (`cnai.backends.kubeflow.feast_transformer`).

The features step writes which views feed the model, and by which key, into the Feast repo it
applies (`online_features.json`); a repo without that file serves no lookup.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from cnai.core.errors import DataError

log = logging.getLogger(__name__)

SPEC_FILE = "online_features.json"
# In an answer: by view, the instances whose key has no values in the online store (scored with them null).
NOT_FOUND = "features_not_found"


def not_found_warning(not_found: dict[str, list[int]]) -> str:
    return ("Feast's online store has no values for the key of " + "; ".join(
        f"view {view!r} at instance(s) {rows[:10]}{' ...' if len(rows) > 10 else ''}" for view, rows in not_found.items())
        + "; scored with those features null, as training joins a key without a row")


def write_spec(repo: Path, views: list[dict[str, Any]]) -> None:
    """Record, in the applied repo, each view's join key (the events' column) and its features."""
    spec = [{"name": view["name"], "join_on": view["join_on"], "features": list(view["columns"])} for view in views]
    (Path(repo) / SPEC_FILE).write_text(json.dumps({"views": spec}, indent=1))


class OnlineFeatures:
    """Fills a request's missing view features from Feast's online store, by each view's join key."""

    def __init__(self, repo: str | Path) -> None:
        from cnai.backends.feast_import import import_feast

        self.repo = Path(repo)
        spec_file = self.repo / SPEC_FILE
        try:
            self.views = json.loads(spec_file.read_text())["views"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataError(f"{spec_file}: not readable ({exc}); run the training pipeline again to write it") from exc
        self.store = import_feast().FeatureStore(repo_path=str(self.repo))
        self.provides = {feature: view for view in self.views for feature in view["features"]}

    @classmethod
    def of(cls, repo: str | Path | None) -> OnlineFeatures | None:
        """The lookup for a Feast repo; None when there is none, or it feeds no view."""
        if not repo or not (Path(repo) / SPEC_FILE).exists():
            return None
        return cls(repo)

    def keys_for(self, missing: list[str]) -> list[str]:
        """The join keys the `missing` features are looked up by."""
        return sorted({self.provides[f]["join_on"] for f in missing if f in self.provides})

    def hint(self, missing: list[str]) -> str:
        """What a caller can send instead of the missing features: the keys they are looked up by."""
        keys = self.keys_for(missing)
        return f" (or send {keys} and they are read from Feast's online store)" if keys else ""

    def fill(self, columns: dict[str, list], missing: list[str]) -> dict[str, list]:
        """`columns` with the `missing` features added where a view provides them and the request
        carries that view's join key; a key with no row in the store gives nulls, as at training."""
        return self.lookup(columns, missing)[0]

    def lookup(self, columns: dict[str, list], missing: list[str]) -> tuple[dict[str, list], dict[str, list[int]]]:
        """`fill`'s columns, and by view the instances whose key found no values in the store: they
        are scored with nulls (as training joins such a key), which a caller should be told."""
        filled, not_found = dict(columns), {}
        for view in self.views:
            wanted = [f for f in view["features"] if f in missing]
            key = view["join_on"]
            if not wanted or key not in columns:
                continue
            keys = columns[key]
            present = [i for i, value in enumerate(keys) if value is not None]
            values = {f: [None] * len(keys) for f in wanted}
            if present:
                try:
                    found = self.store.get_online_features(
                        features=[f"{view['name']}:{f}" for f in wanted],
                        entity_rows=[{key: keys[i]} for i in present],
                    ).to_dict()
                except Exception as exc:  # Feast raises bare type and proto errors for a key of the wrong type
                    raise DataError(f"input {key!r}: Feast's online store could not look up view {view['name']!r} "
                                    f"by {str(keys[present[0]])[:40]!r} ({type(exc).__name__}: {str(exc)[:200]}); "
                                    f"send {key} with the type it has in the training data") from exc
                for f in wanted:
                    for i, value in zip(present, found[f], strict=True):
                        values[f][i] = value
            # A key sent as null looks nothing up: said as an unknown key is (what an instance left
            # out entirely is its caller's to refuse or forgive: `_looked_up`).
            if unfound := [i for i in range(len(keys)) if all(values[f][i] is None for f in wanted)]:
                not_found[view["name"]] = unfound
            filled.update(values)
        return filled, not_found
