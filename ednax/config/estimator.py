"""The estimator of a scikit-learn config, built once while the config is checked.

scikit-learn checks its own parameter rules (a `max_depth` below 1, say) only when an
estimator is built, which a run does after loading the data. Building it during
validation makes those a config error that `validate` reports and that stops a run (and
every sweep job, and each corner of an Optuna search space) before any bundle exists,
together with a model that does not serve the data's task and a metric that needs
probabilities the model does not give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ednax.errors import ConfigError

if TYPE_CHECKING:
    from ednax.config.context import Resolving


def check_estimator(r: Resolving) -> None:
    """Build the estimator of an estimator config whose model, metrics and task are
    known; what scikit-learn or the model step refuses becomes the config's problems."""
    model, metrics = r.out.get("model"), r.out.get("metrics")
    if r.family != "sklearn" or r.task is None or model is None or metrics is None:
        return
    from ednax.engine.sklearn import check_estimator as build_and_check

    try:
        build_and_check(model, r.task, metrics["names"], r.registry)
    except ConfigError as exc:
        r.problems.extend(r.composed.locate(p) for p in exc.problems)
    except Exception:  # a plugin's own failure: the fit reports it with its traceback
        return
