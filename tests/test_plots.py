"""Every PNG ednax writes keeps its texts inside the image: learning curves with a wide
legend (`ednax plot`), and Optuna's optimization-history and importance plots with long
parameter names (written at a sweep's end). The legend names every varying key, the most
important first where a study recorded importances."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

matplotlib = pytest.importorskip("matplotlib")

from ednax.runs import plot as plotting  # noqa: E402


@pytest.fixture
def drawn_texts(monkeypatch):
    """The texts matplotlib actually draws (tick labels beyond an axis's limits exist as
    artists but are not drawn)."""
    from matplotlib.text import Text

    seen: list[Text] = []
    original = Text.draw

    def draw(self, renderer):
        seen.append(self)
        return original(self, renderer)

    monkeypatch.setattr(Text, "draw", draw)
    return seen


def texts_cut_off(figure, seen) -> list[str]:
    """The drawn, visible texts whose bounding box leaves the figure."""
    seen.clear()
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    cut = []
    for text in seen:
        if not text.get_visible() or not text.get_text().strip():
            continue
        extent = text.get_window_extent(renderer)
        if (
            extent.x0 < box.x0 - 0.5
            or extent.y0 < box.y0 - 0.5
            or extent.x1 > box.x1 + 0.5
            or extent.y1 > box.y1 + 0.5
        ):
            cut.append(text.get_text())
    return cut


def curves(n: int) -> list[plotting.Curves]:
    label_keys = (
        "model.hidden=[64,64] model.dropout=0.2157 trainer.batch_size=32 "
        "optimizer.lr=0.007284 optimizer.weight_decay=0.0001"
    )
    out = []
    for i in range(n):
        label = f"20261202-0143{i:02d}-416309 {label_keys}"
        out.append(
            plotting.Curves(
                label="\n".join(textwrap.wrap(label, plotting.LABEL_WIDTH)),
                columns={
                    "train/loss": [1.0, 0.8 - i / 20, 0.5],
                    "val/loss": [1.1, 0.9, 0.6 + i / 20],
                    "train/accuracy": [0.3, 0.6, 0.9],
                    "val/accuracy": [0.2, 0.5, 0.8],
                },
                epochs=[1.0, 2.0, 3.0],
                monitor="val/loss",
            )
        )
    return out


@pytest.mark.parametrize("metrics", [["val/loss"], ["loss", "accuracy"]])
def test_learning_curves_keep_every_text_inside_the_image(drawn_texts, metrics, tmp_path):
    figure = plotting.curves_figure(curves(6), metrics)
    assert texts_cut_off(figure, drawn_texts) == []
    written = plotting.plot(curves(6), tmp_path / "curves.png", metrics)
    assert written.read_bytes()[:4] == b"\x89PNG"


def test_a_legend_of_many_runs_leaves_the_panels_their_room(drawn_texts):
    figure = plotting.curves_figure(curves(30), ["loss", "accuracy"])
    assert texts_cut_off(figure, drawn_texts) == []
    renderer = figure.canvas.get_renderer()
    [legend] = figure.legends
    below = legend.get_window_extent(renderer)
    for ax in figure.axes:
        panel = ax.get_window_extent(renderer)
        assert panel.height > 2 * figure.dpi, "the panels are not squeezed"
        assert panel.y0 > below.y1, "the legend is below the panels, not over them"


def test_a_single_long_label_widens_the_figure_instead_of_being_cut(drawn_texts):
    one = curves(1)
    one[0].label = "run " + "x" * 200  # one word: it cannot be wrapped
    figure = plotting.curves_figure(one, ["loss"])
    assert texts_cut_off(figure, drawn_texts) == []


def sweep_folder(tmp_path: Path, importances: dict | None) -> Path:
    folder = tmp_path / "sweep"
    folder.mkdir()
    record = {"id": "sweep", "monitor": "val/loss"}
    if importances is not None:
        record["importances"] = {"val/loss": importances}
    (folder / "sweep.json").write_text(json.dumps(record))
    return folder


def test_the_legend_names_every_varying_key_the_most_important_first(tmp_path):
    configs = [
        {
            "model": {"type": "mlp", "hidden": hidden, "dropout": dropout},
            "optimizer": {"type": "adam", "lr": lr},
            "trainer": {"batch_size": batch},
        }
        for hidden, dropout, lr, batch in [([16], 0.1, 0.01, 8), ([64, 64], 0.2, 0.2, 16)]
    ]
    from ednax.runs.values import flatten

    params = [flatten(c) for c in configs]
    folder = sweep_folder(
        tmp_path,
        {
            "optimizer.lr": 0.6,
            "model.dropout": 0.3,
            "trainer.batch_size": 0.07,
            "model.hidden": 0.03,
        },
    )
    records = [SimpleNamespace(path=folder / "run-a"), SimpleNamespace(path=folder / "run-b")]
    importances = plotting.sweep_importances(records)
    keys = plotting.legend_keys(params, configs, importances)
    assert keys == ["optimizer.lr", "model.dropout", "trainer.batch_size", "model.hidden"]
    without = plotting.legend_keys(params, configs, plotting.sweep_importances([]))
    assert sorted(without) == sorted(keys), "no study: every key that varies, none left out"
    assert plotting._label_part("model.hidden", configs[1]) == "model.hidden=[64,64]"
    assert plotting._label_part("optimizer.lr", {"optimizer": {"lr": 0.0072835629}}) == (
        "optimizer.lr=0.007284"
    )


@pytest.fixture(scope="module")
def study():
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))

    def objective(trial):
        lr = trial.suggest_float("optimizer.lr", 1e-4, 0.3, log=True)
        drop = trial.suggest_float("model.dropout", 0.0, 0.3)
        size = trial.suggest_categorical("trainer.batch_size", [8, 16, 32])
        name = trial.suggest_categorical("model.backbone_hidden_layer_sizes", ["[16]", "[64]"])
        return lr * 3 + drop + size / 1000 + len(name) / 100

    study.optimize(objective, n_trials=8)
    return study


def test_optunas_plots_keep_every_label_inside_the_image(study, drawn_texts, tmp_path):
    import matplotlib.pyplot as plt

    from ednax.sweep import plots

    for plot in (plots._history, plots._importances):
        figure = plots.figure_of(plot, study, None, "val/loss")
        assert texts_cut_off(figure, drawn_texts) == [], plot.__name__
        plt.close("all")
    files, notes = plots.write_plots(study, tmp_path, ["val/loss"])
    assert files == ["optimization_history.png", "param_importances.png"], notes


def test_a_sweep_plot_is_the_image_matplotlib_saves(study, tmp_path):
    """The PNG written from the figure's drawn pixels (not drawn a second time) has the
    very pixels `savefig` gives, the grown size of a figure with long labels included."""
    import io

    import matplotlib.pyplot as plt
    from PIL import Image, ImageChops

    from ednax.sweep import plots

    files, _ = plots.write_plots(study, tmp_path, ["val/loss"])
    for plot, name in zip((plots._history, plots._importances), files, strict=True):
        saved = io.BytesIO()
        plots.figure_of(plot, study, None, "val/loss").savefig(saved, format="png", dpi=100)
        plt.close("all")
        ours = Image.open(tmp_path / name).convert("RGBA")
        theirs = Image.open(saved).convert("RGBA")
        assert ours.size == theirs.size, name
        assert ImageChops.difference(ours, theirs).getbbox() is None, name


def test_a_studys_importances_are_recorded_and_agree_with_its_plot(study):
    from ednax.sweep import plots

    importances = plots.param_importances(study, ["val/loss"])["val/loss"]
    assert set(importances) == {
        "optimizer.lr",
        "model.dropout",
        "trainer.batch_size",
        "model.backbone_hidden_layer_sizes",
    }
    assert importances == plots.param_importances(study, ["val/loss"])["val/loss"]
    assert abs(sum(importances.values()) - 1) < 1e-3


def test_plots_drawn_while_their_imports_begin_in_a_thread_are_complete(study, tmp_path):
    """A joblib sweep starts importing what plots need when its workers start; a resumed
    study with no trial left to run draws its plots at once, while those imports run."""
    from ednax.sweep import plots

    plots.import_meanwhile()
    files, notes = plots.write_plots(study, tmp_path, ["val/loss"])

    assert files == ["optimization_history.png", "param_importances.png"], notes
    assert all((tmp_path / name).stat().st_size > 0 for name in files)
