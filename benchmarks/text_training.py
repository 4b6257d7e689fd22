"""Training time of a tiny BERT encoder on short texts three ways: ednax, the usual way, a
hand loop.

The work: the shipped topic texts (sample-configs/data/text-topics/topics.csv, 3,000 rows,
5 classes), repeated --repeat times (default 4: 12,000 rows, ids made unique) so that the
training loop outweighs the start, split by ednax's `text_csv` step into 80% train / 20%
test (no val split: the other two ways validate nothing either, so ednax monitors
train/loss). Every way tokenizes with the same fitted wordpiece tokenizer (vocabulary up
to 2,000 tokens, texts truncated to 64 tokens) and trains the same network, transformers'
BertForSequenceClassification with hidden size 64, 2 layers, 2 heads, intermediate size
128, dropout 0.1, pooled from [CLS] (ednax's `bert` with those sizes builds exactly that
config), with cross-entropy, AdamW at 2e-3, batches of 32, --epochs (2) epochs, each batch
padded to its own longest text. Each ends, as ednax does, by scoring the train and test
splits with the trained weights (accuracy, printed, to show that all three learned).

All three run in this process, one after the other, timed the same way: wall time from
the call to the end of the final evaluation, with every heavy import done and one
warm-up step of the network taken before any clock starts. CPU time is printed beside it.

- ednax: a whole run, as `ednax.api.run` does it (`load_config`, then
  `RunOptions.experiment(...).run()`), with one extra callback that timestamps Lightning's
  train start and end: validating the config, reading the CSV (its sha256 fingerprint),
  fitting the tokenizer on train and tokenizing every split, building the model and the
  Trainer, training with checkpoints each epoch, evaluating every split, writing the
  bundle (predictions.csv, the tokenizer).
- usual way: the raw texts in a torch Dataset and the (already fitted) tokenizer called in
  the DataLoader's collate function on every batch (`encode_batch`, padding to the
  batch's longest text), shuffle, a minimal LightningModule and Trainer(logger=False,
  enable_checkpointing=False, enable_progress_bar=False); the final scores come from
  the same collate function without shuffling. The tokenizer comes fitted (as a
  pretrained one would be loaded), so its fit is not in this figure.
- hand-written: the tokenizer fitted on train (ednax's wordpiece step, timed: ednax's
  figure includes its fit too), every split tokenized once (timed) into padded tensors of
  ids and masks, a randperm per epoch, each batch's slice cut to its longest text, a
  plain AdamW loop.

Target: on the CPU, ednax / hand-written <= 1.15x; usual way / ednax is printed beside.

    python benchmarks/text_training.py [--repeat 4] [--epochs 2] [--threads 1]
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]
TOPICS = REPO / "sample-configs" / "data" / "text-topics" / "topics.csv"
SEED = 0
BATCH = 32
EVAL_ROWS = 1024  # ednax's eval batch: max(batch_size, 1024)
LR = 2e-3
TEST = 0.2
BERT = {"hidden_size": 64, "num_layers": 2, "num_heads": 2, "intermediate_size": 128}
DROPOUT = 0.1

CONFIG = """\
experiment: {{name: text-benchmark, seed: {seed}, runs_dir: {runs_dir}}}
data: {{type: text_csv, path: {data}, text: text, target: topic, id: id, val: 0.0,
       test: {test}}}
preprocess:
  - {{type: wordpiece, vocab_size: 2000, max_length: 64}}
model: {{type: bert, hidden_size: {hidden_size}, num_layers: {num_layers},
        num_heads: {num_heads}, intermediate_size: {intermediate_size}, dropout: {dropout},
        pooling: cls}}
loss: {{type: cross_entropy}}
optimizer: {{type: adamw, lr: {lr}}}
trainer: {{type: lightning, max_epochs: {epochs}, batch_size: {batch}, accelerator: cpu,
          progress: plain}}
metrics: {{names: [accuracy], monitor: train/loss, mode: min}}
"""


# The data -----------------------------------------------------------------------------------


def texts_file(folder: Path, repeat: int) -> Path:
    """The shipped topic texts, `repeat` times over (ids made unique)."""
    with TOPICS.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    path = folder / f"topics-x{repeat}.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(header)
        for copy in range(repeat):
            writer.writerows([f"{copy}-{row[0]}", *row[1:]] for row in rows)
    return path


@dataclass
class Data:
    """ednax's split of the texts and its fitted tokenizer (for the other two ways)."""

    texts: dict[str, list[str]]
    labels: dict[str, torch.Tensor]
    tokenizer: object  # a tokenizers.Tokenizer: truncation on, no padding
    refit: Callable[[], object]  # the same tokenizer fitted again on train (for the hand loop)
    vocab_size: int
    pad_id: int
    max_length: int
    classes: int


def split_of(config_file: Path) -> Data:
    """ednax's split (its data step with the run's resolved section) and its tokenizer
    fitted on train, as the run fits it."""
    from ednax.config.resolve import load_config
    from ednax.registry import REGISTRY

    resolved = load_config(config_file)
    dataset = REGISTRY.build("data", resolved["data"]).load()
    train = dataset.splits["train"]

    def refit() -> object:
        step = REGISTRY.build("preprocess", resolved["preprocess"][0])
        return step.fit(train).fitted.tokenizer

    step = REGISTRY.build("preprocess", resolved["preprocess"][0])
    fitted = step.fit(train).fitted
    vocabulary = fitted.vocabulary
    return Data(
        texts={name: list(split.texts) for name, split in dataset.splits.items()},
        labels={n: torch.as_tensor(s.y, dtype=torch.int64) for n, s in dataset.splits.items()},
        tokenizer=fitted.tokenizer,
        refit=refit,
        vocab_size=vocabulary.size,
        pad_id=vocabulary.pad_id,
        max_length=vocabulary.max_length,
        classes=dataset.num_classes,
    )


# What every way shares ----------------------------------------------------------------------


def make_net(data: Data) -> nn.Module:
    """transformers' BERT classifier with the config ednax's `bert` builds for these sizes."""
    from ednax.steps.text.models import Bert

    torch.manual_seed(SEED)
    return Bert(
        **BERT,
        dropout=DROPOUT,
        pooling="cls",
        vocab_size=data.vocab_size,
        pad_id=data.pad_id,
        max_length=data.max_length,
        out_features=data.classes,
    )


class Clock:
    """Wall seconds, and CPU seconds of this process and its finished children."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), _cpu()

    def read(self) -> tuple[float, float]:
        return time.perf_counter() - self.wall, _cpu() - self.cpu


def _cpu() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass
class Timed:
    wall: float
    cpu: float
    before: float
    loop: float
    loop_cpu: float
    accuracy: dict[str, float]
    phases: list[tuple[str, float]] = field(default_factory=list)


def padded(encodings: list, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and masks of `encodings`, padded to the longest."""
    width = max(len(e.ids) for e in encodings)
    ids = torch.full((len(encodings), width), pad_id, dtype=torch.int64)
    mask = torch.zeros((len(encodings), width), dtype=torch.int64)
    for i, e in enumerate(encodings):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        mask[i, : len(e.ids)] = 1
    return ids, mask


def accuracy_of(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predicted == labels).float().mean())


# ednax --------------------------------------------------------------------------------------


class PhaseTimer(pl.Callback):
    def __init__(self, clock: Clock, phases: list[tuple[str, float]]):
        self.clock, self.phases = clock, phases
        self.cpu: dict[str, float] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        wall, self.cpu["start"] = self.clock.read()
        self.phases.append(("train start", wall))

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.phases.append((f"epoch {trainer.current_epoch + 1} end", self.clock.read()[0]))

    def on_train_end(self, trainer, pl_module) -> None:
        wall, self.cpu["end"] = self.clock.read()
        self.phases.append(("train end", wall))


def ednax_run(config_file: Path) -> Timed:
    from ednax.app.running import RunOptions
    from ednax.config.resolve import load_config

    phases: list[tuple[str, float]] = []
    clock = Clock()

    def say(line: str) -> None:
        for start, phase in (("data:", "data loaded"), ("preprocess:", "tokenized")):
            if line.startswith(start):
                phases.append((phase, clock.read()[0]))

    resolved = load_config(config_file)
    phases.append(("config resolved", clock.read()[0]))
    options = RunOptions(say=say, command=["ednax", "run", str(config_file)])
    timer = PhaseTimer(clock, phases)
    outcome = options.experiment(resolved, callbacks=[timer]).run()
    wall, cpu = clock.read()
    if outcome.status != "completed":
        raise RuntimeError(f"the ednax run ended {outcome.status}: {outcome.error}")
    marks = dict(phases)
    accuracy = {split: scores["accuracy"] for split, scores in outcome.metrics.items()}
    loop, loop_cpu = (
        marks["train end"] - marks["train start"],
        timer.cpu["end"] - timer.cpu["start"],
    )
    return Timed(wall, cpu, marks["train start"], loop, loop_cpu, accuracy, phases)


# The usual way: tokenizing in the collate function, Lightning -------------------------------


class UsualModule(pl.LightningModule):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.loss_fn = nn.CrossEntropyLoss()

    def training_step(self, batch, batch_idx):
        ids, mask, y = batch
        loss = self.loss_fn(self.net(ids, mask), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=LR)


def usual_way(data: Data, epochs: int) -> Timed:
    from torch.utils.data import DataLoader

    clock = Clock()

    def collate(rows: list[tuple[str, torch.Tensor]]) -> tuple[torch.Tensor, ...]:
        texts, labels = zip(*rows, strict=True)
        ids, mask = padded(data.tokenizer.encode_batch(list(texts)), data.pad_id)
        return ids, mask, torch.stack(labels)

    def loader(split: str, shuffle: bool, batch: int) -> DataLoader:
        rows = list(zip(data.texts[split], data.labels[split], strict=True))
        return DataLoader(rows, batch_size=batch, shuffle=shuffle, collate_fn=collate)

    module = UsualModule(make_net(data))
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before, loop = clock.read()[0], Clock()
    trainer.fit(module, loader("train", True, BATCH))
    loop_wall, loop_cpu = loop.read()
    net = module.net.eval()
    accuracy = {}
    with torch.no_grad():
        for split in data.texts:
            predicted = [net(i, m).argmax(1) for i, m, _ in loader(split, False, EVAL_ROWS)]
            accuracy[split] = accuracy_of(torch.cat(predicted), data.labels[split])
    wall, cpu = clock.read()
    return Timed(wall, cpu, before, loop_wall, loop_cpu, accuracy)


# A hand-written loop over pre-tokenized tensors ---------------------------------------------


def hand_written(data: Data, epochs: int) -> Timed:
    clock = Clock()
    tokenizer = data.refit()  # fitted on train, as ednax fits it (the same vocabulary)
    tensors = {
        split: padded(tokenizer.encode_batch(texts), data.pad_id)
        for split, texts in data.texts.items()
    }
    lengths = {split: mask.sum(dim=1) for split, (_, mask) in tensors.items()}
    model = make_net(data)
    optimizer = torch.optim.AdamW(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    ids, mask = tensors["train"]
    y, rows = data.labels["train"], len(data.labels["train"])
    before, loop = clock.read()[0], Clock()
    for _ in range(epochs):
        order = torch.randperm(rows, generator=generator)
        for first in range(0, rows, BATCH):
            chosen = order[first : first + BATCH]
            width = int(lengths["train"][chosen].max())
            logits = model(ids[chosen, :width], mask[chosen, :width])
            loss = loss_fn(logits, y[chosen])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    loop_wall, loop_cpu = loop.read()
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for split, (ids_, mask_) in tensors.items():
            predicted = [
                model(ids_[i : i + EVAL_ROWS], mask_[i : i + EVAL_ROWS]).argmax(1)
                for i in range(0, len(ids_), EVAL_ROWS)
            ]
            accuracy[split] = accuracy_of(torch.cat(predicted), data.labels[split])
    wall, cpu = clock.read()
    return Timed(wall, cpu, before, loop_wall, loop_cpu, accuracy)


# The run ------------------------------------------------------------------------------------


def warm_up(data: Data) -> None:
    """The imports and first kernels every way would otherwise pay on its first step."""
    import importlib

    for module in (
        "ednax.app.running",
        "ednax.engine.experiment",
        "ednax.engine.torch",
        "ednax.engine.lightning.fit",
        "ednax.steps.text.models",
        "ednax.steps.text.tokenizers",
    ):
        importlib.import_module(module)
    net = make_net(data)
    ids, mask = padded(data.tokenizer.encode_batch(data.texts["train"][:BATCH]), data.pad_id)
    nn.functional.cross_entropy(net(ids, mask), data.labels["train"][:BATCH]).backward()


def quiet() -> None:
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pytorch_lightning.*|lightning_fabric.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def report(times: dict[str, Timed], train_rows: int, epochs: int) -> None:
    labels = {"ednax": "ednax run", "usual": "usual (collate+PL)", "hand": "hand-written"}
    print(f"\n{train_rows} train texts x {epochs} epochs, {torch.get_num_threads()} thread(s):")
    print(
        f"  {'':<20} {'wall':>8} {'cpu':>8} {'texts/s':>8} {'before':>8} {'loop':>8} "
        f"{'loop cpu':>8} {'after':>8}   accuracy train/test"
    )
    for name, t in times.items():
        after = t.wall - t.before - t.loop
        scores = "/".join(f"{t.accuracy.get(s, float('nan')):.3f}" for s in ("train", "test"))
        print(
            f"  {labels[name]:<20} {t.wall:7.2f}s {t.cpu:7.2f}s "
            f"{train_rows * epochs / t.wall:8.0f} {t.before:7.2f}s {t.loop:7.2f}s "
            f"{t.loop_cpu:7.2f}s {after:7.2f}s   {scores}"
        )
    if "ednax" in times:
        print("  ednax's phases, seconds from the start (wall):")
        for phase, at in times["ednax"].phases:
            print(f"    {phase:<20} {at:7.2f}s")
    print("ratios (wall; beside: CPU, and the training loops alone):")
    for label, top, bottom, target in (
        ("ednax / hand-written", "ednax", "hand", 1.15),
        ("usual way / ednax", "usual", "ednax", None),
    ):
        if top not in times or bottom not in times:
            continue
        a, b = times[top], times[bottom]
        line = (
            f"  {label:<22} {a.wall / b.wall:6.2f}x  (cpu {a.cpu / b.cpu:.2f}x; "
            f"loops {a.loop / b.loop:.2f}x, loops cpu {a.loop_cpu / b.loop_cpu:.2f}x)"
        )
        if target is not None:
            met = a.wall / b.wall <= target
            line += f"   target <= {target}x: {'met' if met else 'MISSED'}"
        print(line)
    load = os.getloadavg()[0]
    if load > 1.5:
        print(f"note: load average {load:.1f}: other processes share the CPU; rerun when quiet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=4, help="copies of the 3,000 texts")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--ways", default="ednax,usual,hand", help="a subset, comma-separated")
    args = parser.parse_args()
    ways = [w.strip() for w in args.ways.split(",")]
    torch.set_num_threads(args.threads)
    quiet()
    times: dict[str, Timed] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config_file = folder / "text-benchmark.yaml"
        config_file.write_text(
            CONFIG.format(
                seed=SEED,
                runs_dir=str(folder / "runs"),
                data=str(texts_file(folder, args.repeat)),
                test=TEST,
                dropout=DROPOUT,
                lr=LR,
                epochs=args.epochs,
                batch=BATCH,
                **BERT,
            )
        )
        data = split_of(config_file)
        warm_up(data)
        if "ednax" in ways:
            times["ednax"] = ednax_run(config_file)
        for name, way in (("usual", usual_way), ("hand", hand_written)):
            if name in ways:
                torch.use_deterministic_algorithms(False)  # ednax's Trainer switches it on
                times[name] = way(data, args.epochs)
    report(times, len(data.labels["train"]), args.epochs)


if __name__ == "__main__":
    main()
