"""`ednax predict` with a run whose train loop (`trainer.module`) overrides `forward`: the
prediction goes through that module, built with `trainer.module_args`, so it gives what
training wrote to predictions.csv (the bare model would give other classes)."""

from __future__ import annotations

import csv
import io

from tests.conftest import SAMPLES, bundle_of, write

# A train loop whose outputs are the model's logits shifted round by `shift` classes:
# the model learns to put each class's evidence one column early, so its bare argmax is
# another class than the loop's.
SHIFTED_LOOP_PLUGIN = '''
import torch

from ednax.engine.lightning.module import EdnaxModule
from ednax.registry import register


@register("module", "shifted")
class ShiftedLoop(EdnaxModule):
    """The built-in loop, its logits rolled round by `shift` classes.

    Parameters
    ----------
    shift : int
        Classes the logits are rolled by.
    """

    def __init__(self, *, shift: int = 1, **engine):
        super().__init__(**engine)
        self.shift = shift

    def forward(self, x):
        return torch.roll(super().forward(x), shifts=self.shift, dims=1)
'''

TRAINER = "trainer: {type: lightning, max_epochs: 40, batch_size: 16}"
SHIFTED_TRAINER = (
    "trainer: {type: lightning, max_epochs: 8, batch_size: 16, progress: none,"
    " module: shifted, module_args: {shift: 1}}"
)


def rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_predict_goes_through_the_runs_train_loop(cli, workdir, one_thread):
    write(workdir / "shifted_loop.py", SHIFTED_LOOP_PLUGIN)
    sample = (SAMPLES / "iris-mlp.yaml").read_text()
    assert TRAINER in sample
    text = "imports: [shifted_loop]\n" + sample.replace(TRAINER, SHIFTED_TRAINER)
    config = write(workdir / "shifted.yaml", text)
    ran = cli("run", config)
    assert ran.code == 0, ran.text
    bundle = bundle_of(ran, workdir)

    result = cli("predict", bundle, "data:test")
    assert result.code == 0, result.text
    predicted = rows(result.out)
    written = rows((bundle / "artifacts" / "predictions.csv").read_text())
    assert len(predicted) == len(written) == 30
    assert [r["id"] for r in predicted] == [r["id"] for r in written]
    assert [r["prediction"] for r in predicted] == [r["prediction"] for r in written]
    for name in ("proba_setosa", "proba_versicolor", "proba_virginica"):
        assert [r[name] for r in predicted] == [r[name] for r in written]
