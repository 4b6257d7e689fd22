"""ednax's Optuna storage (`ednax.sweep.storage`) gives a pruner the same answers as
Optuna's own storage: it reads what a pruner asks for every epoch more cheaply, and the
decisions must not change."""

from __future__ import annotations

import optuna
import pytest

from ednax.sweep.storage import open_storage


def pruned_at(storage, pruner) -> list[int | None]:
    """Eight trials of 30 steps, each learning at its own rate; the step each was pruned
    at (None: it ran to the end)."""
    study = optuna.create_study(study_name="rates", storage=storage, pruner=pruner)
    stops = []
    for number in range(8):
        trial = study.ask()
        rate = 0.05 + 0.1 * ((number * 5) % 8)
        stop = None
        for step in range(1, 31):
            trial.report(1.0 / (1.0 + rate * step), step)
            if trial.should_prune():
                stop = step
                break
        if stop is None:
            study.tell(trial, 1.0 / (1.0 + rate * 30))
        else:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        stops.append(stop)
    return stops


@pytest.mark.parametrize(
    "make_pruner",
    [
        lambda: optuna.pruners.HyperbandPruner(min_resource=2, reduction_factor=2),
        lambda: optuna.pruners.SuccessiveHalvingPruner(min_resource=2, reduction_factor=2),
        lambda: optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=3),
    ],
    ids=["hyperband", "successive_halving", "median"],
)
def test_pruning_decisions_match_optunas_own_storage(tmp_path, make_pruner):
    ours = pruned_at(open_storage(f"sqlite:///{tmp_path / 'study.db'}"), make_pruner())
    theirs = pruned_at(optuna.storages.InMemoryStorage(), make_pruner())
    assert ours == theirs
    assert any(stop is not None for stop in ours)  # the scripted trials do get pruned


def _views(trials) -> dict[int, tuple]:
    return {
        t.number: (t.state.name, t.params, t.user_attrs, t.system_attrs, t.intermediate_values)
        for t in trials
    }


def _statements(storage) -> list[str]:
    """The SQL statements `storage` sends from now on."""
    import sqlalchemy

    sent: list[str] = []
    sqlalchemy.event.listen(
        storage._backend.engine, "before_cursor_execute", lambda *a: sent.append(a[2])
    )
    return sent


def test_a_running_trial_is_read_from_what_this_process_wrote(tmp_path):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    done = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    study.tell(done, 0.5)
    trial = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})
    trial.suggest_categorical("c", ["a", "b"])
    trial.report(0.25, 1)
    trial.set_user_attr("ednax", {"status": "running"})
    study._storage.set_trial_system_attr(trial._trial_id, "rung", 0.25)
    sent = _statements(study._storage)
    ours = _views(study.get_trials()) | {-1: _views([study._storage.get_trial(trial._trial_id)])}
    assert all(s.startswith("PRAGMA data_version") for s in sent)  # nothing else was read
    database = optuna.storages.RDBStorage(url)
    theirs = _views(database.get_all_trials(study._study_id))
    assert ours == theirs | {-1: _views([database.get_trial(trial._trial_id)])}

    study.tell(trial, 0.25)  # finished as the database has it, end time included
    ended = [(t.state.name, t.datetime_complete, t.values) for t in study.get_trials()]
    stored = database.get_all_trials(study._study_id)
    assert ended == [(t.state.name, t.datetime_complete, t.values) for t in stored]


def test_what_another_process_writes_is_read(tmp_path):
    """A job reporting to the trial the sweeper asked for, another worker asking."""
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    trial = study.ask()
    assert _views(study.get_trials())[0][4] == {}
    other = optuna.load_study(study_name="s", storage=optuna.storages.RDBStorage(url))
    other_trial = optuna.trial.Trial(other, trial._trial_id)
    other_trial.report(0.75, 3)
    other_trial.set_user_attr("ednax", "from the job")
    other.ask()
    views = _views(study.get_trials())
    assert views[0][2:] == ({"ednax": "from the job"}, {}, {3: 0.75})
    assert sorted(views) == [0, 1]
    assert study._storage.get_trial(trial._trial_id).intermediate_values == {3: 0.75}
    other.tell(other_trial, 0.1)
    assert study.get_trials()[0].state.name == "COMPLETE"
