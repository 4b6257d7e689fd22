"""Preprocessing: fitted on train only, applied to every split, and cached.

The fitted pipeline and the transformed splits are cached under a key made of the data
(its resolved section and fingerprint, so the split and the input files count), the
preprocess config, and the code of the preprocess classes (their source files and the
scikit-learn version). A sweep of fifty model variants fits the preprocessing once; a
changed parameter, class, input file or library misses the cache.

A cache entry is written to a temporary folder and renamed into place, so concurrent runs
never read half an entry; when two write the same key at once, the first rename wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pickle
import secrets
import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ednax.engine.spec import digest
from ednax.registry import REGISTRY
from ednax.steps.base import Dataset, Split


@dataclass
class Prepared:
    dataset: Dataset
    pipeline: Any
    cached: bool


class PreprocessCache:
    """Fitted preprocessing by key, in a folder (or nowhere, when disabled)."""

    def __init__(self, root: Path | None):
        self.root = root

    def key(self, data: dict, fingerprint: str, steps: list[dict], fold: str = "") -> str:
        return digest(
            {
                "data": data,
                "fingerprint": fingerprint,
                "preprocess": steps,
                "code": code_version(steps),
                "fold": fold,
            }
        )

    def load(self, key: str) -> tuple[Any, dict[str, np.ndarray], list[str]] | None:
        if self.root is None:
            return None
        entry = self.root / key
        try:
            meta = json.loads((entry / "meta.json").read_text())
            with open(entry / "pipeline.pkl", "rb") as handle:
                pipeline = pickle.load(handle)
            with np.load(entry / "splits.npz") as arrays:
                splits = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError, pickle.UnpicklingError, EOFError):
            return None
        return pipeline, splits, meta["feature_names"]

    def store(
        self, key: str, pipeline: Any, splits: dict[str, np.ndarray], names: list[str]
    ) -> None:
        if self.root is None or (self.root / key).exists():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".tmp-{key}-{secrets.token_hex(4)}"
        temp.mkdir()
        try:
            with open(temp / "pipeline.pkl", "wb") as handle:
                pickle.dump(pipeline, handle, protocol=5)
            np.savez(temp / "splits.npz", **splits)
            (temp / "meta.json").write_text(json.dumps({"feature_names": names}))
            os.rename(temp, self.root / key)
        except OSError:
            pass  # another run stored the same key first
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp)


def code_version(steps: list[dict]) -> str:
    """The preprocess classes' source files and scikit-learn's version, hashed."""
    import importlib.metadata
    import importlib.util

    h = hashlib.sha256(importlib.metadata.version("scikit-learn").encode())
    modules = {REGISTRY.get("preprocess", s["type"]).target.partition(":")[0] for s in steps}
    modules.add("ednax.steps.preprocess")
    for module in sorted(modules):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin and os.path.isfile(spec.origin):
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:16]


def prepare(dataset: Dataset, steps: list[dict], cache: PreprocessCache, key: str) -> Prepared:
    """Fit `steps` on the train split (or take them from the cache) and transform all."""
    hit = cache.load(key)
    if hit is not None:
        pipeline, arrays, names = hit
        if set(arrays) == set(dataset.splits):
            return Prepared(_with_features(dataset, arrays, names), pipeline, cached=True)
    from ednax.steps.preprocess import make_pipeline, output_feature_names

    instances = [
        REGISTRY.build("preprocess", s, path=f"preprocess[{i}]") for i, s in enumerate(steps)
    ]
    pipeline = make_pipeline(instances, dataset.feature_names)
    pipeline.fit(dataset.splits["train"].X)
    arrays = {
        name: np.asarray(pipeline.transform(s.X), dtype=np.float64)
        for name, s in dataset.splits.items()
    }
    names = output_feature_names(pipeline, dataset.feature_names)
    cache.store(key, pipeline, arrays, names)
    return Prepared(_with_features(dataset, arrays, names), pipeline, cached=False)


def _with_features(dataset: Dataset, arrays: dict[str, np.ndarray], names: list[str]):
    splits = {n: Split(arrays[n], s.y, s.ids) for n, s in dataset.splits.items()}
    return replace(dataset, splits=splits, feature_names=list(names))
