"""A finished study's plots, as PNG files in the sweep folder (matplotlib, no display).

    optimization_history.png   every completed trial's value and the best so far
    param_importances.png      how much each parameter explains the objective

One pair per objective in a multi-objective study (`..._<split>-<metric>.png`). Optuna's
matplotlib plots draw them, laid out again so that every label lies inside the image
(`ednax.runs.plot.keep_texts_inside`: Optuna's own layout cuts long parameter names); a
plot that cannot be drawn (too few trials, a single parameter value) is skipped with a
note saying why.

The importances are also recorded in sweep.json (`importances`: objective -> parameter ->
share), so `ednax plot --sweep` names the most important parameters first. Both come from
Optuna's default evaluator (PED-ANOVA, deterministic), so the plot and the record agree.
"""

from __future__ import annotations

import contextlib
import importlib
import threading
import warnings
from pathlib import Path
from typing import Any

from ednax.runs import atomic

MIN_TRIALS_FOR_IMPORTANCE = 2
_importing: list[threading.Thread] = []  # threads of `import_meanwhile` not yet joined


def import_meanwhile() -> None:
    """Import what the plots need (matplotlib, Optuna's plots and importances, which import
    scikit-learn's forests) in a thread, while this process only waits for trials that
    run in other processes: about 1.3 s that would otherwise come after the last trial."""
    thread = threading.Thread(target=_import_plotting, name="ednax-plot-imports", daemon=True)
    _importing.append(thread)
    thread.start()


def _import_plotting() -> None:
    with contextlib.suppress(Exception):  # write_plots imports them again and says what failed
        _use_agg()  # before pyplot is imported, which picks a backend
        for name in ("optuna.importance", "optuna.visualization.matplotlib", "PIL.Image"):
            importlib.import_module(name)


def write_plots(study: Any, directory: Path, objectives: list[str]) -> tuple[list[str], list[str]]:
    """Draw the plots of `study` into `directory`; returns (file names, notes)."""
    while _importing:  # a half-imported pyplot cannot switch its backend
        _importing.pop().join()
    _use_agg()
    from optuna.trial import TrialState

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    files: list[str] = []
    notes: list[str] = []
    if not completed:
        return files, ["no plots: no trial completed"]
    multi = len(objectives) > 1
    for index, objective in enumerate(objectives):
        suffix = f"_{objective.replace('/', '-')}" if multi else ""
        target = (lambda t, i=index: t.values[i]) if multi else None
        history = f"optimization_history{suffix}.png"
        if _draw(_history, study, target, objective, Path(directory) / history, notes):
            files.append(history)
        if len(completed) < MIN_TRIALS_FOR_IMPORTANCE:
            notes.append(
                f"no parameter-importance plot: it needs {MIN_TRIALS_FOR_IMPORTANCE} "
                f"completed trials, the study has {len(completed)}"
            )
            continue
        importance = f"param_importances{suffix}.png"
        if _draw(_importances, study, target, objective, Path(directory) / importance, notes):
            files.append(importance)
    return files, notes


def _use_agg() -> None:
    """Plots are drawn without a display."""
    import matplotlib

    matplotlib.use("Agg", force=True)


def param_importances(study: Any, objectives: list[str]) -> dict[str, dict[str, float]]:
    """objective -> parameter -> importance (shares summing to 1), for sweep.json; empty
    when the study has too few completed trials or they cannot be computed."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    completed = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(completed) < MIN_TRIALS_FOR_IMPORTANCE:
        return {}
    multi = len(objectives) > 1
    out: dict[str, dict[str, float]] = {}
    for index, objective in enumerate(objectives):
        target = (lambda t, i=index: t.values[i]) if multi else None
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = get_param_importances(study, target=target)
        except Exception:  # a convenience, like the plots: never fail a sweep over one
            continue
        out[objective] = {name: round(float(value), 6) for name, value in found.items()}
    return out


def _history(study: Any, target: Any, name: str) -> Any:
    from optuna.visualization.matplotlib import plot_optimization_history

    return plot_optimization_history(study, target=target, target_name=name)


def _importances(study: Any, target: Any, name: str) -> Any:
    from optuna.visualization.matplotlib import plot_param_importances

    return plot_param_importances(study, target=target, target_name=name)


def figure_of(plot: Any, study: Any, target: Any, name: str) -> Any:
    """Optuna's plot as a figure whose every text lies inside it."""
    from ednax.runs.plot import keep_texts_inside

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning, tight_layout notices
        axes = plot(study, target, name)
        figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
        return keep_texts_inside(figure)


def _draw(plot, study: Any, target: Any, name: str, path: Path, notes: list[str]) -> bool:
    import matplotlib.pyplot as plt

    from ednax.runs.plot import write_drawn_png

    try:
        figure = figure_of(plot, study, target, name)
        with atomic.open_atomic(path, "wb") as handle:
            write_drawn_png(figure, handle)  # at the figure's dpi (matplotlib's 100)
    except Exception as exc:  # a plot is a convenience: never fail a sweep over one
        notes.append(f"no {path.name}: {type(exc).__name__}: {exc}")
        return False
    finally:
        with contextlib.suppress(Exception):
            plt.close("all")
    return True
