"""The sampler of a search, seeded per trial.

Trial n samples with a seed mixed from the sweep's seed and n, so workers started together
on one study do not draw the same parameters, a resumed search does not replay the first
session's draws, and a single worker's search is reproducible. The grid and qmc samplers
keep one seed for all trials: it orders the grid (or scrambles the sequence) that every
worker and session walks through the storage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ednax.sweep.search_space import Param
from ednax.sweep.settings import build_sampler, plain_problem

# Samplers whose seed orders what every worker and session shares (the grid's shuffled
# order, the scrambled QMC sequence kept in the storage): one seed for all trials.
SHARED_SEED_SAMPLERS = ("grid", "qmc")


def seeded_sampler(spec: dict[str, Any], seed: int | None, space: list[Param]) -> Any:
    """The configured sampler, seeded per trial (see the module's docstring); `seed`
    None leaves Optuna to seed it."""
    spec = dict(spec)
    seed = spec.pop("seed", seed)  # a seed among the sampler's own options wins

    def build(trial_seed: int | None) -> Any:
        return build_sampler(spec, trial_seed, space, plain_problem)

    if seed is None or spec["type"] in SHARED_SEED_SAMPLERS:
        return build(seed)
    return _seeded_per_trial(build, seed)


def _seeded_per_trial(build: Callable[[int], Any], seed: int) -> Any:
    """A sampler that samples trial n with a sampler built for n's seed. Samplers keep
    what they learn in the storage, not in the object (CMA-ES and NSGA-II store their
    state in the trials), so a fresh one per trial sees the same study; only the random
    draws change, and they depend on the trial's number, not on which worker asked."""
    from optuna.samplers import BaseSampler

    class TrialSeeded(BaseSampler):
        def __init__(self) -> None:
            self.sampler = build(seed)

        def before_trial(self, study, trial):
            self.sampler = build(_trial_seed(seed, trial.number))
            self.sampler.before_trial(study, trial)

        def infer_relative_search_space(self, study, trial):
            return self.sampler.infer_relative_search_space(study, trial)

        def sample_relative(self, study, trial, search_space):
            return self.sampler.sample_relative(study, trial, search_space)

        def sample_independent(self, study, trial, param_name, param_distribution):
            return self.sampler.sample_independent(study, trial, param_name, param_distribution)

        def after_trial(self, study, trial, state, values):
            self.sampler.after_trial(study, trial, state, values)

        def reseed_rng(self) -> None:
            self.sampler.reseed_rng()

    return TrialSeeded()


def _trial_seed(seed: int, number: int) -> int:
    """Trial `number`'s seed: mixed, because the first draws of generators seeded with
    neighbouring integers can lie close together."""
    import numpy as np

    return int(np.random.SeedSequence([seed % 2**32, number]).generate_state(1)[0])
