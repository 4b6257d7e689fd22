"""The bundle index and run references: kept in step with the bundles on disk (built,
caught up, rebuilt), robust to corrupt bundles, a corrupt index and concurrent writers;
references by path, id, prefix, latest~N and EXPERIMENT/latest."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from ednax.errors import UsageError
from ednax.runs import bundle as bundle_module
from ednax.runs import index, watch
from ednax.runs.bundle import Bundle
from ednax.runs.index import INDEX_FILE, RunIndex, list_runs
from ednax.runs.journal import JOURNAL_FILE
from ednax.runs.store import find_record, find_records, find_run


@pytest.fixture(autouse=True)
def ordered_time(monkeypatch):
    """Each bundle a few seconds after the last, so ids (and `latest`) are in creation
    order; git sees no repository."""
    clock = itertools.count(1_764_000_000, 7)
    monkeypatch.setattr(bundle_module, "_now", lambda: float(next(clock)))
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", "/")


def make_run(
    runs: Path,
    experiment: str = "iris",
    *,
    status: str = "completed",
    metrics: dict | None = None,
    model: str = "random_forest",
    parent: Path | None = None,
    tags: tuple[str, ...] = (),
) -> Bundle:
    """A bundle written through the real writer (as `ednax run` does), minus the fit."""
    bundle = Bundle.create(runs, experiment, parent=parent)
    config = {
        "experiment": {"name": experiment, "seed": 0, "tags": list(tags)},
        "model": {"type": model, "n_estimators": 10},
        "metrics": {"names": ["accuracy"], "monitor": "val/accuracy", "mode": "max"},
    }
    bundle.start(
        config=config,
        overrides=[],
        command=["ednax", "run", f"{experiment}.yaml"],
        experiment=experiment,
        seed=0,
        fingerprints={"config": "c0", "structure": f"s-{model}"},
        classes={"model": {"class": f"ednax.steps.estimators:{model}", "version": "0.1.0"}},
        packages=[],
        cwd=runs.parent,
        extra={"tags": list(tags)},
    )
    if status != "running":
        values = metrics if metrics is not None else {"val": {"accuracy": 0.9}}
        bundle.finish(status, metrics=values if status == "completed" else None)
    return bundle


def by_id(records) -> dict:
    return {r.id: r for r in records}


def test_first_listing_builds_the_index_with_every_bundle_and_its_metrics(tmp_path):
    runs = tmp_path / "runs"
    forest = make_run(runs, metrics={"val": {"accuracy": 0.8}, "test": {"accuracy": 0.7}})
    logreg = make_run(runs, model="logistic_regression")
    other = make_run(runs, "wine", status="failed")

    records = by_id(list_runs(runs))

    assert (runs / INDEX_FILE).is_file()
    assert set(records) == {forest.run_id, logreg.run_id, other.run_id}
    first = records[forest.run_id]
    assert first.status == "completed" and first.experiment == "iris"
    assert first.metrics == {"val/accuracy": 0.8, "test/accuracy": 0.7}
    assert (first.monitor, first.mode) == ("val/accuracy", "max")
    assert records[other.run_id].status == "failed"
    # same experiment, other classes per step: another version, numbered in run order
    assert (first.version, records[logreg.run_id].version) == ("v1", "v2")


def test_bundles_in_sweep_folders_are_listed_with_their_sweep(tmp_path):
    runs = tmp_path / "runs"
    sweep = runs / "iris" / "sweep-20261125-0830"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text('{"study": "s"}')
    trials = [make_run(runs, parent=sweep) for _ in range(2)]
    single = make_run(runs)

    records = by_id(list_runs(runs, "iris"))

    assert set(records) == {single.run_id, *(t.run_id for t in trials)}
    assert records[trials[0].run_id].sweep == "iris/sweep-20261125-0830"
    assert records[single.run_id].sweep is None
    assert find_run(trials[1].run_id, runs) == trials[1].path


def test_index_follows_new_bundles_status_changes_and_deletions(tmp_path):
    runs = tmp_path / "runs"
    running = make_run(runs, status="running")
    gone = make_run(runs)
    assert by_id(list_runs(runs))[running.run_id].status == "running"

    running.finish("completed", metrics={"val": {"accuracy": 0.99}})
    added = make_run(runs, "wine")
    shutil.rmtree(gone.path)
    records = by_id(list_runs(runs))

    assert set(records) == {running.run_id, added.run_id}
    assert records[running.run_id].status == "completed"
    assert records[running.run_id].metrics == {"val/accuracy": 0.99}


def test_only_changed_bundles_are_read_again(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    bundles = [make_run(runs) for _ in range(5)]
    list_runs(runs)
    read = []
    real = index.read_row
    monkeypatch.setattr(index, "read_row", lambda *a: read.append(a[1]) or real(*a))

    list_runs(runs)
    assert read == []
    bundles[2].update(status="interrupted")
    assert by_id(list_runs(runs))[bundles[2].run_id].status == "interrupted"
    assert read == [f"iris/{bundles[2].run_id}"]


def test_a_deleted_index_is_rebuilt(tmp_path):
    runs = tmp_path / "runs"
    made = [make_run(runs).run_id for _ in range(3)]
    list_runs(runs)
    (runs / INDEX_FILE).unlink()

    assert [r.id for r in list_runs(runs)] == made
    assert (runs / INDEX_FILE).is_file()


@pytest.mark.parametrize("garbage", [b"not a database at all" * 100, b""])
def test_a_corrupt_index_is_replaced(tmp_path, garbage):
    runs = tmp_path / "runs"
    made = make_run(runs).run_id
    list_runs(runs)
    (runs / INDEX_FILE).write_bytes(garbage)

    assert [r.id for r in list_runs(runs)] == [made]
    with sqlite3.connect(runs / INDEX_FILE) as con:
        assert con.execute("SELECT id FROM runs").fetchall() == [(made,)]


def test_an_index_of_an_older_schema_is_rebuilt(tmp_path):
    runs = tmp_path / "runs"
    made = make_run(runs).run_id
    list_runs(runs)
    with sqlite3.connect(runs / INDEX_FILE) as con:
        con.execute("UPDATE meta SET value = 'old' WHERE key = 'schema'")
        con.execute("UPDATE runs SET status = 'stale'")

    assert [(r.id, r.status) for r in list_runs(runs)] == [(made, "completed")]


def test_a_locked_index_still_lists_the_bundles(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    first = make_run(runs).run_id
    list_runs(runs)
    second = make_run(runs).run_id
    monkeypatch.setattr(index, "LOCK_TIMEOUT_S", 0.05)
    holder = sqlite3.connect(runs / INDEX_FILE, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert [r.id for r in list_runs(runs)] == [first, second]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [r.id for r in list_runs(runs)] == [first, second]


def test_corrupt_and_half_written_bundles_are_listed_never_raised(tmp_path):
    runs = tmp_path / "runs"
    truncated, no_metrics, healthy = (make_run(runs) for _ in range(3))
    list_runs(runs)  # indexed while healthy: the damage below must be noticed
    text = (truncated.path / "run.json").read_text()
    (truncated.path / "run.json").write_text(text[: len(text) // 2])
    (no_metrics.path / "metrics.json").unlink()
    starting = runs / "iris" / "20261125-083000-abcdef"
    starting.mkdir()  # killed between creating the folder and writing run.json
    (runs / "iris" / "notes").mkdir()  # a stray folder is no bundle

    records = by_id(list_runs(runs))

    assert set(records) == {truncated.run_id, no_metrics.run_id, healthy.run_id, starting.name}
    assert records[truncated.run_id].status == "corrupt"
    assert "not valid JSON" in records[truncated.run_id].problem
    assert records[no_metrics.run_id].status == "completed"
    assert records[no_metrics.run_id].problem == "metrics.json is missing"
    assert records[no_metrics.run_id].metrics == {}
    assert records[starting.name].status == "corrupt"
    assert "no run.json" in records[starting.name].problem
    assert records[healthy.run_id].problem is None


def test_a_failed_run_without_metrics_is_not_a_problem(tmp_path):
    runs = tmp_path / "runs"
    failed = make_run(runs, status="failed")
    assert list_runs(runs)[0].problem is None
    assert failed.path.is_dir()


def _list_repeatedly(runs: str, times: int, queue) -> None:
    try:
        for _ in range(times):
            list_runs(Path(runs))
        queue.put(None)
    except BaseException as exc:  # reported to the parent
        queue.put(repr(exc))


def test_concurrent_listings_while_bundles_are_written(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    readers = [
        context.Process(target=_list_repeatedly, args=(str(runs), 40, queue)) for _ in range(3)
    ]
    for reader in readers:
        reader.start()
    made = [make_run(runs, status="running") for _ in range(12)]
    for bundle in made[::2]:
        bundle.finish("completed", metrics={"val": {"accuracy": 0.5}})
    for reader in readers:
        reader.join(60)
    errors = [queue.get(timeout=5) for _ in readers]

    assert errors == [None, None, None]
    records = by_id(list_runs(runs))
    assert len(records) == 13
    for i, bundle in enumerate(made):
        assert records[bundle.run_id].status == ("completed" if i % 2 == 0 else "running")


def test_an_unwritable_runs_directory_is_still_listed(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes everywhere")
    runs = tmp_path / "runs"
    made = make_run(runs).run_id
    runs.chmod(0o555)
    try:
        assert [r.id for r in list_runs(runs)] == [made]
    finally:
        runs.chmod(0o755)


# --- references ---------------------------------------------------------------------------


def test_references_by_path_id_prefix_and_latest(tmp_path):
    runs = tmp_path / "runs"
    first, second = make_run(runs), make_run(runs)
    wine = make_run(runs, "wine")

    assert find_run(str(first.path), runs) == first.path
    assert find_run(second.run_id, runs) == second.path
    assert find_run(second.run_id[:-2], runs) == second.path
    assert find_run("latest", runs) == wine.path
    assert find_run("latest", runs, "iris") == second.path
    assert find_run("latest~1", runs, "iris") == first.path
    assert find_run("iris/latest~1", runs) == first.path
    assert find_run(f"{runs}/wine/latest", tmp_path / "elsewhere") == wine.path
    assert [r.id for r in find_records(["latest", wine.run_id, "latest"], runs)] == [wine.run_id]


def test_latest_skips_corrupt_bundles(tmp_path):
    runs = tmp_path / "runs"
    good = make_run(runs)
    bad = make_run(runs)
    (bad.path / "run.json").write_text("{")
    assert find_run("latest", runs, "iris") == good.path


def test_an_ambiguous_prefix_lists_the_candidates(tmp_path):
    runs = tmp_path / "runs"
    made = [make_run(runs) for _ in range(3)]
    with pytest.raises(UsageError) as caught:
        find_run(made[0].run_id[:4], runs)
    message = str(caught.value)
    assert "matches 3 runs" in message
    assert all(b.run_id in message for b in made)


def test_an_unknown_reference_says_where_it_looked_and_what_there_is(tmp_path):
    runs = tmp_path / "runs"
    made = make_run(runs)
    with pytest.raises(UsageError, match="no run 'nope'") as caught:
        find_run("nope", runs)
    assert made.run_id in str(caught.value)
    typo = made.run_id[:-1] + ("0" if made.run_id[-1] != "0" else "1")
    with pytest.raises(UsageError, match=f"did you mean {made.run_id}"):
        find_run(typo, runs)
    with pytest.raises(UsageError, match="did you mean 'iris'"):
        find_run("latest", runs, "irsi")
    with pytest.raises(UsageError, match="only 1 runs"):
        find_run("latest~1", runs, "iris")
    with pytest.raises(UsageError, match="no runs directory"):
        find_run("latest", tmp_path / "missing")


def test_a_full_id_is_found_without_listing_and_checked_on_disk(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    made = make_run(runs, status="running")
    list_runs(runs)
    made.finish("failed")
    monkeypatch.setattr(index, "scan", lambda *a, **k: pytest.fail("listed every bundle"))

    record = find_record(made.run_id, runs)
    assert (record.path, record.status, record.version) == (made.path, "failed", "v1")


def test_the_index_rows_hold_only_json_columns_that_parse(tmp_path):
    runs = tmp_path / "runs"
    make_run(runs, tags=("baseline", "v2"))
    list_runs(runs)
    with sqlite3.connect(runs / INDEX_FILE) as con:
        tags, metrics = con.execute("SELECT tags, metrics FROM runs").fetchone()
    assert json.loads(tags) == ["baseline", "v2"]
    assert json.loads(metrics) == {"val/accuracy": 0.9}
    assert RunIndex(runs).records()[0].tags == ["baseline", "v2"]


# --- catching up without a stat of every bundle -------------------------------------------


@pytest.fixture
def few_verified(monkeypatch):
    """An index that signs only 2 bundles a read besides what changed, as one of 100,000
    bundles does: what a listing shows must then come from the folders and journals."""
    monkeypatch.setattr(index, "VERIFY_BATCH", 2)
    monkeypatch.setattr(watch, "SETTLING_NS", 0)  # folder times settle at once


def count_signatures(monkeypatch) -> list[str]:
    signed: list[str] = []
    for module in (index, watch):
        real = module.signature
        monkeypatch.setattr(
            module, "signature", lambda e, real=real: signed.append(str(e)) or real(e)
        )
    return signed


def test_a_listing_of_an_unchanged_runs_dir_signs_only_a_rotating_batch(
    tmp_path, monkeypatch, few_verified
):
    runs = tmp_path / "runs"
    made = [make_run(runs).run_id for _ in range(6)]
    list_runs(runs)
    signed = count_signatures(monkeypatch)

    batches = []
    for _ in range(3):
        signed.clear()
        assert [r.id for r in list_runs(runs)] == made
        batches.append(sorted(signed))

    assert [len(b) for b in batches] == [2, 2, 2]
    # in turn through every bundle
    assert len({path for batch in batches for path in batch}) == 6


def test_status_changes_new_deleted_and_resumed_bundles_show_at_once(
    tmp_path, monkeypatch, few_verified
):
    runs = tmp_path / "runs"
    running = make_run(runs, status="running")
    done = [make_run(runs) for _ in range(4)]
    sweep = runs / "iris" / "sweep-20261125-0830"
    sweep.mkdir()
    trial = make_run(runs, parent=sweep)
    list_runs(runs)

    running.finish("completed", metrics={"val": {"accuracy": 0.97}})
    done[0].update(status="running")  # resumed
    shutil.rmtree(done[1].path)
    added = make_run(runs, "wine")
    added_trial = make_run(runs, parent=sweep, status="running")
    new_sweep = runs / "iris" / "sweep-20261125-0900"
    new_sweep.mkdir()
    new_trial = make_run(runs, parent=new_sweep)
    trial.update(status="pruned")
    records = by_id(list_runs(runs))

    assert set(records) == {
        running.run_id,
        done[0].run_id,
        done[2].run_id,
        done[3].run_id,
        trial.run_id,
        added.run_id,
        added_trial.run_id,
        new_trial.run_id,
    }
    assert records[running.run_id].status == "completed"
    assert records[running.run_id].metrics == {"val/accuracy": 0.97}
    assert records[done[0].run_id].status == "running"
    assert records[trial.run_id].status == "pruned"
    assert records[added_trial.run_id].sweep == "iris/sweep-20261125-0830"
    assert records[new_trial.run_id].sweep == "iris/sweep-20261125-0900"
    assert records[added.run_id].experiment == "wine"


def test_a_deleted_sweep_folder_takes_its_runs_with_it(tmp_path, few_verified):
    runs = tmp_path / "runs"
    sweep = runs / "iris" / "sweep-20261125-0830"
    sweep.mkdir(parents=True)
    trials = [make_run(runs, parent=sweep) for _ in range(3)]
    single = make_run(runs)
    assert len(list_runs(runs)) == 4

    shutil.rmtree(sweep)

    assert [r.id for r in list_runs(runs)] == [single.run_id]
    assert trials[0].run_id not in {r.id for r in list_runs(runs, "iris")}


def test_a_run_that_writes_no_journal_still_shows_its_end(tmp_path, few_verified):
    """A run started by an older ednax (or whose journal append failed) is `running` in
    the index: running bundles are signed on every read."""
    runs = tmp_path / "runs"
    running = make_run(runs, status="running")
    for _ in range(4):
        make_run(runs)
    list_runs(runs)
    run = running.read_run()
    run["status"] = "failed"
    (running.path / ".run.json.tmp").write_text(json.dumps(run))
    os.replace(running.path / ".run.json.tmp", running.path / "run.json")  # no journal line

    assert by_id(list_runs(runs))[running.run_id].status == "failed"


def test_a_change_made_by_hand_is_seen_within_a_rotation(tmp_path, few_verified):
    runs = tmp_path / "runs"
    made = [make_run(runs) for _ in range(6)]
    list_runs(runs)
    (made[3].path / "metrics.json").unlink()  # no journal line, no new folder

    problems = [by_id(list_runs(runs))[made[3].run_id].problem for _ in range(3)]

    assert problems[-1] == "metrics.json is missing"


def test_a_replaced_journal_has_its_folder_signed_again(tmp_path, few_verified):
    runs = tmp_path / "runs"
    made = [make_run(runs) for _ in range(5)]
    list_runs(runs)
    (runs / "iris" / JOURNAL_FILE).unlink()
    made[4].update(status="interrupted")  # a new journal, begun after the index read the old

    assert by_id(list_runs(runs))[made[4].run_id].status == "interrupted"


def test_listed_records_fetch_the_rest_of_their_row_when_asked(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    made = [make_run(runs, metrics={"val": {"accuracy": 0.5 + i / 10}}) for i in range(4)]
    list_runs(runs)
    monkeypatch.setattr(index, "FETCH_ALL_AFTER", 1)

    records = list_runs(runs)

    assert [r.metrics["val/accuracy"] for r in records] == [0.5, 0.6, 0.7, 0.8]
    assert all(r.started_at and r.duration_s is not None for r in records)
    assert records[0].path == made[0].path and records[0].sweep is None


def test_versions_are_the_same_from_the_index_and_from_the_bundles(tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    for model in ("random_forest", "svc", "random_forest", "logistic_regression"):
        make_run(runs, model=model)
    make_run(runs, "wine", model="svc")
    from_index = [(r.id, r.version) for r in list_runs(runs)]
    monkeypatch.setattr(
        index.RunIndex,
        "_open",
        lambda self: (_ for _ in ()).throw(sqlite3.OperationalError("locked")),
    )

    assert [(r.id, r.version) for r in list_runs(runs)] == from_index
    assert [v for _, v in from_index] == ["v1", "v2", "v1", "v3", "v1"]


def test_an_experiments_listing_keeps_the_index_and_reads_nothing_again(
    tmp_path, monkeypatch, few_verified
):
    runs = tmp_path / "runs"
    made = [make_run(runs).run_id for _ in range(5)]
    make_run(runs, "wine")
    list_runs(runs, "iris")
    inode = (runs / INDEX_FILE).stat().st_ino
    read = []
    real = index.read_row
    monkeypatch.setattr(index, "read_row", lambda *a: read.append(a[1]) or real(*a))

    for _ in range(3):
        assert [r.id for r in list_runs(runs, "iris")] == made

    assert read == []
    assert (runs / INDEX_FILE).stat().st_ino == inode
