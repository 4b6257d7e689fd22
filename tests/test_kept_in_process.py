"""What a process keeps between runs: a sweep worker runs trial after trial on the same
data. The last preprocessing cache entries used are read from memory, as the cache folder
has them, each run getting its own copy (`--no-cache` keeps nothing); a csv file is read
once per version of it, and read again when it changes; the dataset a data step loaded is
loaded once per parameters and version of the data, each run getting its own copy."""

from __future__ import annotations

import shutil

import numpy as np

from ednax.engine import preprocessing
from ednax.engine.preprocessing import PreprocessCache, prepare
from ednax.steps import data
from ednax.steps.data import Csv, SklearnToy, Synthetic

STEPS = [{"type": "standard_scaler"}]


def prepared_twice(cache: PreprocessCache):
    preprocessing._RECENT.entries.clear()
    dataset = SklearnToy("wine", random_state=0).load()
    key = cache.key({"type": "sklearn_toy"}, dataset.fingerprint, STEPS)
    first = prepare(dataset, STEPS, cache, key)
    if cache.root is not None:
        shutil.rmtree(cache.root)  # what the second finds comes from memory only
    return first, prepare(dataset, STEPS, cache, key)


def test_a_second_lookup_in_the_process_is_served_from_memory_as_a_copy(tmp_path):
    first, second = prepared_twice(PreprocessCache(tmp_path / "cache"))

    assert not first.cached and second.cached
    for name, split in second.dataset.splits.items():
        before = first.dataset.splits[name].X
        assert np.array_equal(split.X, before) and not np.shares_memory(split.X, before)
    assert second.pipeline is not first.pipeline  # each run its own fitted objects
    assert second.dataset.feature_names == first.dataset.feature_names


def test_without_the_cache_nothing_is_kept_in_memory():
    first, second = prepared_twice(PreprocessCache(None))

    assert not first.cached and not second.cached
    assert not preprocessing._RECENT.entries


def test_a_csv_is_read_once_per_version_and_again_when_it_changes(tmp_path, monkeypatch):
    file = tmp_path / "t.csv"
    file.write_text("x,y\n" + "".join(f"{i},{i % 2}\n" for i in range(20)))
    reads = []
    frame = Csv._frame
    monkeypatch.setattr(Csv, "_frame", lambda self, cols: reads.append(cols) or frame(self, cols))
    step = Csv(str(file), target="y", random_state=0)

    step.infer_task()  # validation
    first = step.load()  # the run it checked
    second = step.load()  # the next trial
    assert len(reads) == 1
    assert np.array_equal(first.splits["train"].X, second.splits["train"].X)

    file.write_text("x,y\n" + "".join(f"{i * 10},{i % 2}\n" for i in range(20)))
    changed = step.load()
    assert len(reads) == 2 and changed.fingerprint != first.fingerprint
    assert changed.splits["train"].X.max() > first.splits["train"].X.max()


def counted_splits(monkeypatch) -> list[int]:
    splits = []
    split_rows = data.split_rows

    def counted(X, *args):
        splits.append(len(X))
        return split_rows(X, *args)

    monkeypatch.setattr(data, "split_rows", counted)
    return splits


def test_a_dataset_is_loaded_once_per_parameters_each_load_getting_its_own_copy(monkeypatch):
    splits = counted_splits(monkeypatch)
    first = SklearnToy("iris", random_state=0).load()
    first.splits["train"].X[:] = 0.0  # a run that changes its data in place
    first.classes.append("extra")
    second = SklearnToy("iris", random_state=0).load()

    assert len(splits) == 1
    assert second.splits["train"].X.any()
    assert second.classes == ["setosa", "versicolor", "virginica"]
    assert not np.shares_memory(first.splits["val"].X, second.splits["val"].X)
    other = SklearnToy("iris", val=0.3, random_state=0).load()  # other parameters: loaded
    assert len(splits) == 2 and len(other.splits["val"]) > len(second.splits["val"])


def test_generated_data_without_a_seed_is_generated_again(monkeypatch):
    splits = counted_splits(monkeypatch)
    seeded = [Synthetic(n_samples=50, random_state=1).load() for _ in range(2)]
    unseeded = [Synthetic(n_samples=50).load() for _ in range(2)]

    assert len(splits) == 3
    assert np.array_equal(seeded[0].splits["train"].X, seeded[1].splits["train"].X)
    assert not np.array_equal(unseeded[0].splits["train"].X, unseeded[1].splits["train"].X)
