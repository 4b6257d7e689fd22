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
