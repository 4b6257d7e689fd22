"""Preprocessing: fitted on train only, applied to every split, and cached.

The fitted pipeline and the transformed splits are cached under a key made of the data
(its resolved section and fingerprint, so the split and the input files count), the
preprocess config, and the code of the preprocess classes (their source files and the
scikit-learn version). A sweep of fifty model variants fits the preprocessing once; a
changed parameter, class, input file or library misses the cache.

A cache entry is written to a temporary folder and renamed into place, so concurrent runs
never read half an entry; when two write the same key at once, the first rename wins.

An entry is signed: meta.json holds an HMAC, with this user's secret (ednax.runs.trust),
of its key, feature names, pipeline.pkl and splits.npz, and the key itself includes a
public name of the secret, so users sharing a runs folder keep apart entries. An entry
whose signature does not verify (a file dropped or changed there by someone else) is never
unpickled: it is a miss, the preprocessing is fitted afresh and replaces it, and the run
says so (`Prepared.note`, for its log).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
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
from ednax.errors import ConfigError, Problem
from ednax.registry import REGISTRY
from ednax.runs import trust as signatures
from ednax.steps.base import Dataset, Split
from ednax.steps.images.files import decode_all


@dataclass
class Prepared:
    dataset: Dataset
    pipeline: Any
    cached: bool
    note: str | None = None  # a cache entry refused, for the run's log


@dataclass
class Lookup:
    """What the cache had for a key: a verified entry (`hit`), nothing, or an entry that
    failed its check and was not loaded (`refused` says why)."""

    hit: tuple[Any, dict[str, np.ndarray], list[str]] | None = None
    refused: str | None = None


META, PIPELINE, SPLITS = "meta.json", "pipeline.pkl", "splits.npz"
IMAGE_PREPROCESS = "preprocess.json"  # an image run's fitted pipeline (JSON, no code)
# A text run's cache entry keeps its fitted tokenizer as JSON in place of pipeline.pkl:
# nothing of it is ever unpickled, and a tabular lookup finds no pipeline.pkl there.
TOKENIZER = "tokenizer.json"


class _Recent:
    """The last entries this process read or wrote, verified, as bytes and arrays: a sweep
    worker runs trial after trial on the same preprocessed data, and reads it from memory
    instead of the cache folder (files, signature, npz). Each hit is decoded afresh and its
    arrays copied, so no run sees what another changed; entries beyond `MAX_BYTES` are
    not kept."""

    MAX_ENTRIES = 2
    MAX_BYTES = 256 * 2**20

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], tuple[bytes, dict[str, np.ndarray], list[str]]] = {}

    def get(self, key: str, payload: str, decode: Any) -> Lookup | None:
        found = self.entries.pop((key, payload), None)
        if found is None:
            return None
        self.entries[(key, payload)] = found  # the most recent last
        raw, splits, names = found
        return Lookup(hit=(decode(raw), {n: a.copy() for n, a in splits.items()}, list(names)))

    def put(self, key: str, payload: str, raw: bytes, splits: dict, names: list[str]) -> None:
        if len(raw) + sum(a.nbytes for a in splits.values()) > self.MAX_BYTES:
            return
        kept = {n: np.array(a, copy=True) for n, a in splits.items()}
        self.entries[(key, payload)] = (raw, kept, list(names))
        while len(self.entries) > self.MAX_ENTRIES:
            self.entries.pop(next(iter(self.entries)))


_RECENT = _Recent()


class PreprocessCache:
    """Fitted preprocessing by key, in a folder (or nowhere, when disabled); the last
    entries used are kept in memory too (`_Recent`)."""

    def __init__(self, root: Path | None):
        self.root = root

    def key(self, data: dict, fingerprint: str, steps: list[dict], fold: str = "") -> str:
        parts = {
            "data": data,
            "fingerprint": fingerprint,
            "preprocess": steps,
            "code": code_version(steps),
            "fold": fold,
            "signer": signatures.signer_id(),
        }
        inputs = step_inputs(steps)
        if inputs:  # files a step reads beyond its config (a saved tokenizer's)
            parts["inputs"] = inputs
        return digest(parts)

    def load(self, key: str) -> tuple[Any, dict[str, np.ndarray], list[str]] | None:
        return self.lookup(key).hit

    def lookup(self, key: str) -> Lookup:
        """The entry of `key`, unpickled only once its signature verified."""
        return self._lookup(key, PIPELINE, pickle.loads)

    def lookup_json(self, key: str) -> Lookup:
        """The entry of `key` whose pipeline is JSON text (a text run's tokenizer): its
        text, once its signature verified."""
        return self._lookup(key, TOKENIZER, lambda data: data.decode("utf-8"))

    def _lookup(self, key: str, payload: str, decode: Any) -> Lookup:
        if self.root is None:
            return Lookup()
        recent = _RECENT.get(key, payload, decode)
        if recent is not None:
            return recent
        entry = self.root / key
        try:
            meta_text = (entry / META).read_bytes()
            pipeline_bytes = (entry / payload).read_bytes()
        except OSError:
            return Lookup()  # absent (or being replaced): a miss
        try:
            meta = json.loads(meta_text)
            names, signature = meta["feature_names"], meta.get("hmac")
        except (ValueError, KeyError, TypeError):
            return Lookup(refused=f"cache entry {entry} is unreadable ({META} is malformed)")
        try:
            expected = _signature(_signed(key, payload), names, pipeline_bytes, entry / SPLITS)
        except OSError:
            return Lookup()
        if not isinstance(signature, str) or not hmac.compare_digest(signature, expected):
            why = "unsigned" if signature is None else signatures.NOT_SIGNED
            return Lookup(refused=f"cache entry {entry} is {why}")
        try:
            pipeline = decode(pipeline_bytes)  # the very bytes that were verified
            with np.load(entry / SPLITS) as arrays:  # no pickles: allow_pickle is off
                splits = {name: arrays[name] for name in arrays.files}
        except (OSError, ValueError, pickle.UnpicklingError, EOFError):
            return Lookup()
        _RECENT.put(key, payload, pipeline_bytes, splits, names)
        return Lookup(hit=(pipeline, splits, names))

    def store(
        self,
        key: str,
        pipeline: Any,
        splits: dict[str, np.ndarray],
        names: list[str],
        *,
        replace_refused: bool = False,
    ) -> None:
        """Add the entry of `key`, unless one is there already (the first writer wins);
        `replace_refused` puts aside an entry that failed its check, so this one replaces it."""
        if self.root is None or ((self.root / key).exists() and not replace_refused):
            return
        payload = pickle.dumps(pipeline, protocol=5)
        self._store(key, PIPELINE, payload, splits, names, replace_refused)

    def store_json(
        self,
        key: str,
        text: str,
        splits: dict[str, np.ndarray],
        names: list[str],
        *,
        replace_refused: bool = False,
    ) -> None:
        """Add the entry of `key` whose pipeline is JSON `text` (see `lookup_json`)."""
        if self.root is None:
            return
        self._store(key, TOKENIZER, text.encode("utf-8"), splits, names, replace_refused)

    def _store(
        self,
        key: str,
        payload: str,
        pipeline_bytes: bytes,
        splits: dict[str, np.ndarray],
        names: list[str],
        replace_refused: bool,
    ) -> None:
        assert self.root is not None
        _RECENT.put(key, payload, pipeline_bytes, splits, names)
        target = self.root / key
        if target.exists() and not replace_refused:
            return
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f".tmp-{key}-{secrets.token_hex(4)}"
        temp.mkdir()
        try:
            (temp / payload).write_bytes(pipeline_bytes)
            np.savez(temp / SPLITS, **splits)
            signature = _signature(_signed(key, payload), names, pipeline_bytes, temp / SPLITS)
            (temp / META).write_text(json.dumps({"feature_names": names, "hmac": signature}))
            if replace_refused:
                _put_aside(self.root, target)
            os.rename(temp, target)
        except OSError:
            pass  # another run stored the same key first
        finally:
            with contextlib.suppress(OSError):
                shutil.rmtree(temp)


def _signed(key: str, payload: str) -> str:
    """What an entry's signature covers as its key: a JSON entry's names its payload file
    too, so that its signature never verifies a pickle."""
    return key if payload == PIPELINE else f"{key}\0{payload}"


def _signature(key: str, names: Any, pipeline: bytes, splits: Path) -> str:
    """The entry's HMAC with this user's secret: its key (an entry moved to another key
    fails), feature names, pipeline and split arrays, each framed by its length."""
    mac = signatures.Signer("preprocess-cache").new()
    for part in (key.encode(), json.dumps(names).encode(), pipeline):
        mac.update(len(part).to_bytes(8, "big") + part)
    with open(splits, "rb") as handle:
        mac.update(os.fstat(handle.fileno()).st_size.to_bytes(8, "big"))
        while chunk := handle.read(1 << 20):
            mac.update(chunk)
    return mac.hexdigest()


def _put_aside(root: Path, entry: Path) -> None:
    """Move a refused entry out of the way, then delete it; a run doing the same at once
    finds it gone, which is as good."""
    aside = root / f".refused-{entry.name}-{secrets.token_hex(4)}"
    try:
        os.rename(entry, aside)
    except OSError:
        return
    shutil.rmtree(aside, ignore_errors=True)


def code_version(steps: list[dict]) -> str:
    """The preprocess classes' source files and scikit-learn's version, hashed."""
    import importlib.metadata
    import importlib.util

    h = hashlib.sha256(importlib.metadata.version("scikit-learn").encode())
    modules = {REGISTRY.get("preprocess", s["type"]).target.partition(":")[0] for s in steps}
    modules.add("ednax.steps.preprocess")
    if any(_is_text(s) for s in steps):  # a tokenizer: its library counts
        modules.add("ednax.steps.text.tokens")
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            h.update(importlib.metadata.version("tokenizers").encode())
    for module in sorted(modules):
        spec = importlib.util.find_spec(module)
        if spec and spec.origin and os.path.isfile(spec.origin):
            h.update(Path(spec.origin).read_bytes())
    return h.hexdigest()[:16]


def step_inputs(steps: list[dict]) -> list[str]:
    """What the text steps read beyond their config (`cache_inputs()`: a saved tokenizer's
    files, hashed), one entry per step that reads any; empty for tabular steps, whose keys
    stay as they were."""
    inputs = []
    for i, s in enumerate(steps):
        if not _is_text(s):
            continue
        step = REGISTRY.build("preprocess", s, path=f"preprocess[{i}]")
        if callable(getattr(step, "cache_inputs", None)):
            inputs.append(f"{i}:{step.cache_inputs()}")
    return inputs


def _is_text(step: dict) -> bool:
    return REGISTRY.get("preprocess", step["type"]).tags.get("modality") == "text"


def prepare(
    dataset: Dataset,
    steps: list[dict],
    cache: PreprocessCache,
    key: str,
    *,
    images_in_memory: bool = False,
) -> Prepared:
    """Fit `steps` on the train split (or take them from the cache) and transform all;
    image splits are decoded into memory first when `images_in_memory`."""
    if dataset.modality == "image":
        return prepare_images(dataset, steps, in_memory=images_in_memory)
    if dataset.modality == "text":
        return prepare_text(dataset, steps, cache, key)
    found = cache.lookup(key)
    if found.hit is not None:
        pipeline, arrays, names = found.hit
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
    cache.store(key, pipeline, arrays, names, replace_refused=found.refused is not None)
    note = None
    if found.refused:
        note = f"preprocess: ignored {found.refused}; not loaded, fitted afresh and replaced"
    return Prepared(_with_features(dataset, arrays, names), pipeline, cached=False, note=note)


def prepare_images(dataset: Dataset, steps: list[dict], *, in_memory: bool) -> Prepared:
    """An image run's pipeline fitted on train; the splits stay images, which the train
    loop preprocesses batch by batch on the device (`Dataset.batch_pipeline`). Splits
    held `in_memory` are decoded once, here, before the fit reads train."""
    if in_memory:
        decode_all(dataset.splits.values())
    pipeline = image_pipeline(steps, tuple(dataset.input_shape))
    pipeline.fit(dataset.splits["train"])
    prepared = replace(dataset, input_shape=pipeline.output_shape, batch_pipeline=pipeline)
    return Prepared(prepared, pipeline, cached=False)


def prepare_text(dataset: Dataset, steps: list[dict], cache: PreprocessCache, key: str) -> Prepared:
    """A text run's tokenizer (its one preprocess step) fitted on the train split's texts,
    every split encoded into a `TokenSplit`, `Dataset.vocabulary` set; or both taken from
    the cache, where the tokenizer is its JSON and each split two arrays."""
    from ednax.steps.text.tokenizers import FittedTokenizer
    from ednax.steps.text.tokens import TokenSplit

    found = cache.lookup_json(key)
    if found.hit is not None:
        text, arrays, _names = found.hit
        tokens = _token_splits(dataset, arrays)
        if tokens is not None:
            fitted = FittedTokenizer.from_json(text)
            prepared = replace(dataset, splits=tokens, vocabulary=fitted.vocabulary)
            return Prepared(prepared, fitted, cached=True)
    if len(steps) != 1:  # validation says so first, with the fix
        raise ConfigError(Problem("text data needs exactly one tokenizer step", path="preprocess"))
    step = REGISTRY.build("preprocess", steps[0], path="preprocess[0]")
    fitted = step.fit(dataset.splits["train"]).fitted
    tokens: dict[str, TokenSplit] = {n: fitted.encode(s) for n, s in dataset.splits.items()}
    arrays = {}
    for name, split in tokens.items():
        arrays[f"{name}.values"], arrays[f"{name}.offsets"] = split.values, split.offsets
    cache.store_json(key, fitted.to_json(), arrays, [], replace_refused=found.refused is not None)
    note = None
    if found.refused:
        note = f"preprocess: ignored {found.refused}; not loaded, fitted afresh and replaced"
    prepared = replace(dataset, splits=tokens, vocabulary=fitted.vocabulary)
    return Prepared(prepared, fitted, cached=False, note=note)


def _token_splits(dataset: Dataset, arrays: dict[str, np.ndarray]) -> dict[str, Any] | None:
    """The cached token arrays of every split of `dataset`, as `TokenSplit`s (with the
    split's own targets, ids and extras); None unless they fit its splits exactly."""
    from ednax.steps.text.tokens import TokenSplit

    wanted = {f"{n}.{part}" for n in dataset.splits for part in ("values", "offsets")}
    if set(arrays) != wanted:
        return None
    out = {}
    for name, split in dataset.splits.items():
        values, offsets = arrays[f"{name}.values"], arrays[f"{name}.offsets"]
        if len(offsets) != len(split) + 1 or int(offsets[-1]) != len(values):
            return None
        out[name] = TokenSplit(
            values, offsets, split.y, split.ids, split.extras, list(split.extra_names)
        )
    return out


def image_pipeline(steps: list[dict], input_shape: tuple[int, ...]) -> Any:
    """The (unfitted) image pipeline of the resolved `preprocess` steps."""
    from ednax.steps.images.pipeline import ImagePipeline

    built = [REGISTRY.build("preprocess", s, path=f"preprocess[{i}]") for i, s in enumerate(steps)]
    return ImagePipeline(built, steps, input_shape)


def image_pipeline_from_state(state: dict[str, Any]) -> Any:
    """A fitted image pipeline from its preprocess.json: each step built from the registry
    (a step name outside it is refused, as in a config)."""
    from ednax.steps.images.pipeline import ImagePipeline

    def build(config: dict, index: int) -> Any:
        return REGISTRY.build("preprocess", config, path=f"preprocess[{index}]")

    return ImagePipeline.from_state(state, build)


def _with_features(dataset: Dataset, arrays: dict[str, np.ndarray], names: list[str]):
    splits = {n: Split(arrays[n], s.y, s.ids) for n, s in dataset.splits.items()}
    return replace(dataset, splits=splits, feature_names=list(names))
