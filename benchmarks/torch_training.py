"""Training time of a torch MLP three ways: ednax, Lightning written the usual way, a hand loop.

The work: scikit-learn's make_classification, 50,000 rows x 64 features (seeded), split by
ednax's data step into 40,000 train / 10,000 test rows (no val split: the other two ways
validate nothing either, so ednax monitors train/loss); an MLP 64-256-256-2,
cross-entropy, Adam at 1e-3, batches of 256 (--batch-size), 10 epochs, on the CPU (--device
cuda: on the GPU, each way's data and model there). All three ways use the same train
arrays, the same initial weights (torch seeded before the model is built), the same number
of torch threads (--threads) and are repeated alternately (--repeats; medians are printed).
Each prints the mean train loss of its last epoch, to show they did the same work. Wall
time is the measure; the process's CPU time is printed beside it because on a shared
machine other processes inflate wall time, and with one torch thread (the default) CPU
time is what the training itself cost.

- ednax: the config below, resolved by `ednax.config.resolve.load_config`, and
  `ednax.engine.lightning.fit.fit_torch` called in-process with its sections on the arrays
  its data step produces. The bundle records only the whole run's duration (start-up, data,
  bundle included), not the fit's, so the fit is timed in-process. The time is the whole
  `fit_torch` call: building the steps and the Trainer, the 10 epochs with epoch metrics,
  best/last checkpoints every epoch, and the final evaluation of every split (the training
  loop alone is printed too). `ednax run` on the
  same config also runs once, as a subprocess, for the record (--no-cli skips it).
- usual Lightning: a plain LightningModule logging its epoch loss, DataLoader(TensorDataset)
  with shuffle=True and num_workers=0, Trainer(max_epochs=10, logger=False,
  enable_checkpointing=False, enable_progress_bar=False); `trainer.fit` is timed.
- hand-written: tensors in memory, a randperm per epoch, slices, optimizer steps.

Targets: usual Lightning / ednax >= 3x; ednax / hand-written <= 1.15x. The ratio of the
usual Lightning way to the hand-written loop is printed too: it bounds the first target,
since no engine training through the same arithmetic can beat the hand-written loop.

    python benchmarks/torch_training.py [--repeats 3] [--threads 1] [--no-cli]
                                        [--device cpu|cuda] [--batch-size 256]
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

SEED = 0
EPOCHS = 10
BATCH = 256
LR = 1e-3
HIDDEN = (256, 256)

CONFIG = """\
experiment: {{name: torch-benchmark, seed: {seed}, runs_dir: {runs_dir}}}
data: {{type: synthetic, n_samples: 50000, n_features: 64, n_informative: 16, n_classes: 2,
       val: 0.0, test: 0.2}}
model: {{type: mlp, hidden: [256, 256]}}
loss: {{type: cross_entropy}}
optimizer: {{type: adam, lr: 1.0e-3}}
trainer: {{type: lightning, max_epochs: {epochs}, batch_size: {batch}, accelerator: {accelerator},
          progress: none}}
metrics: {{names: [accuracy], monitor: train/loss, mode: min}}
"""


def make_net(in_features: int, out_features: int) -> nn.Module:
    """The same layers, in the same order, as ednax's `mlp` with hidden [256, 256]."""
    torch.manual_seed(SEED)
    layers: list[nn.Module] = []
    width = in_features
    for size in HIDDEN:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, out_features))
    return nn.Sequential(*layers)


class Clock:
    """Wall and CPU seconds since it was made (after the GPU's queued work, if one is used)."""

    def __init__(self) -> None:
        _synchronize()
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> tuple[float, float]:
        _synchronize()
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def _synchronize() -> None:
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


class Timed:
    """Wall and CPU seconds and the final train loss of one way of training."""

    def __init__(self, clock: Clock, loss: float, loop: tuple[float, float] | None = None):
        self.wall, self.cpu = clock.read()
        self.loss = loss
        self.loop = loop  # ednax only: the training loop alone


# ednax ------------------------------------------------------------------------------------


class LoopTimer(pl.Callback):
    """Wall and CPU time of Lightning's training loop inside ednax's fit. It acts on no
    single batch, so ednax still runs each epoch in one Lightning step."""

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.clock = Clock()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds = self.clock.read()


class Ednax:
    """ednax's fit, in-process, on the resolved config's sections and data."""

    def __init__(self, config_file: Path, scratch: Path):
        from ednax.config.resolve import load_config
        from ednax.engine.metrics import build_metrics
        from ednax.engine.torch import TORCH_SECTIONS
        from ednax.registry import REGISTRY

        self.resolved = load_config(config_file)
        self.dataset = REGISTRY.build("data", self.resolved["data"]).load()
        self.sections = {s: self.resolved[s] for s in TORCH_SECTIONS if s in self.resolved.data}
        self.metrics = build_metrics(self.resolved["metrics"]["names"], self.dataset.task)
        self.scratch = scratch
        self.runs = 0

    def train_arrays(self) -> tuple[torch.Tensor, torch.Tensor]:
        from ednax.engine.lightning.loader import split_tensors

        return split_tensors(self.dataset.splits["train"], self.dataset.task)

    def __call__(self, epochs: int = EPOCHS) -> Timed:
        from ednax.engine.lightning.fit import fit_torch

        sections = copy.deepcopy(self.sections)
        sections["trainer"]["max_epochs"] = epochs
        timer = LoopTimer()
        self.runs += 1
        clock = Clock()
        result = fit_torch(
            dataset=self.dataset,
            sections=sections,
            metrics=self.metrics,
            monitor=self.resolved["metrics"]["monitor"],
            mode=self.resolved["metrics"]["mode"],
            seed=self.resolved.seed,
            artifacts_dir=self.scratch / f"fit-{self.runs}",
            callbacks=[timer],
            log=lambda line: None,
        )
        return Timed(clock, result.history[-1]["train/loss"], timer.seconds)


# Lightning, the usual way -----------------------------------------------------------------


class PlainModule(pl.LightningModule):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net
        self.loss_fn = nn.CrossEntropyLoss()

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self.loss_fn(self.net(x), y)
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=LR)


def usual_lightning(
    x: torch.Tensor, y: torch.Tensor, device: str, batch: int, epochs: int = EPOCHS
) -> Timed:
    """The DataLoader collates rows on the CPU; Lightning moves each batch to `device`."""
    from torch.utils.data import DataLoader, TensorDataset

    module = PlainModule(make_net(x.shape[1], int(y.max()) + 1))
    loader = DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=True)
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator=_accelerator(device),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    clock = Clock()
    trainer.fit(module, loader)
    return Timed(clock, float(trainer.callback_metrics["train_loss"]))


# A hand-written loop ----------------------------------------------------------------------


def hand_written(
    x: torch.Tensor, y: torch.Tensor, device: str, batch: int, epochs: int = EPOCHS
) -> Timed:
    """The arrays moved to `device` once, as ednax's in-memory batches are."""
    clock = Clock()
    x, y = x.to(device), y.to(device)
    model = make_net(x.shape[1], int(y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    rows = len(x)
    for _ in range(epochs):
        order = torch.randperm(rows, generator=generator).to(device)
        xs, ys = x[order], y[order]
        total = torch.zeros((), device=device)
        for first in range(0, rows, batch):
            xb, yb = xs[first : first + batch], ys[first : first + batch]
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(yb)
    return Timed(clock, float(total) / rows)


# The run ----------------------------------------------------------------------------------


def cli_run(config_file: Path, cwd: Path, threads: int) -> None:
    """`ednax run` once as a fresh process; its bundle's duration covers the whole run."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "ednax", "run", str(config_file)],
        cwd=cwd,
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    bundle = next((cwd / "runs" / "torch-benchmark").iterdir())
    record = json.loads((bundle / "run.json").read_text())
    with (bundle / "history.csv").open() as f:
        loss = float(list(csv.DictReader(f))[-1]["train/loss"])
    print(
        f"ednax run (CLI, once): {record['status']}; whole run {record['duration_s']:.2f} s "
        f"in run.json, {wall:.2f} s with interpreter start-up; final train loss {loss:.4f}"
    )


def quiet() -> None:
    """Lightning's banners and notices say nothing about the timings."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pytorch_lightning.*|lightning_fabric.*")


def measure(name: str, run: Callable[[], Timed], times: dict[str, list[Timed]]) -> None:
    # ednax's Trainer switches deterministic algorithms on; every way starts from the default.
    torch.use_deterministic_algorithms(False)
    times.setdefault(name, []).append(run())


def report(times: dict[str, list[Timed]], repeats: int) -> None:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(t, field) for t in times[name])

    labels = {
        "ednax": "ednax fit_torch",
        "lightning": "Lightning + DataLoader",
        "hand": "hand-written loop",
    }
    threads = torch.get_num_threads()
    print(f"\ntraining time, median of {repeats}, {threads} torch thread(s):")
    print(f"  {'':<24} {'wall':>8} {'cpu':>8}   final train loss")
    for name, label in labels.items():
        wall, cpu = median(name, "wall"), median(name, "cpu")
        print(f"  {label:<24} {wall:7.2f}s {cpu:7.2f}s   {times[name][-1].loss:.4f}")
    loop_wall = statistics.median(t.loop[0] for t in times["ednax"])
    loop_cpu = statistics.median(t.loop[1] for t in times["ednax"])
    print(
        f"  {'  its training loop':<24} {loop_wall:7.2f}s {loop_cpu:7.2f}s   (ednax's fit_torch "
        "without building the steps and the final evaluation)"
    )
    print(f"ratios {'':<20} {'wall':>8} {'cpu':>8}")
    for label, (top, bottom), target, met in (
        ("usual Lightning / ednax", ("lightning", "ednax"), ">= 3x", lambda r: r >= 3),
        ("ednax / hand-written", ("ednax", "hand"), "<= 1.15x", lambda r: r <= 1.15),
    ):
        wall = median(top, "wall") / median(bottom, "wall")
        cpu = median(top, "cpu") / median(bottom, "cpu")
        print(f"  {label:<24} {wall:7.2f}x {cpu:7.2f}x   target {target}{_missed(met(wall))}")
    wall = median("lightning", "wall") / median("hand", "wall")
    cpu = median("lightning", "cpu") / median("hand", "cpu")
    print(
        f"  {'usual Lightning / hand':<24} {wall:7.2f}x {cpu:7.2f}x   "
        "(the most any engine could reach)"
    )


def _missed(met: bool) -> str:
    return "" if met else "  MISSED"


def _accelerator(device: str) -> str:
    return "cpu" if device == "cpu" else "gpu"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch-size", type=int, default=BATCH)
    parser.add_argument("--no-cli", action="store_true", help="skip the `ednax run` subprocess")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: torch finds no CUDA device")
    torch.set_num_threads(args.threads)
    quiet()
    device, batch = args.device, args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        config_file = scratch / "torch-benchmark.yaml"
        config_file.write_text(
            CONFIG.format(
                seed=SEED,
                runs_dir=scratch / "runs",
                epochs=EPOCHS,
                batch=batch,
                accelerator=_accelerator(device),
            )
        )
        if not args.no_cli:
            cli_run(config_file, scratch, args.threads)
        ednax = Ednax(config_file, scratch)
        x, y = ednax.train_arrays()
        print(
            f"train rows: {len(x)} x {x.shape[1]}, {int(y.max()) + 1} classes; "
            f"batches of {batch} on {device}"
        )
        ways: dict[str, Callable[..., Timed]] = {
            "ednax": ednax,
            "lightning": lambda epochs=EPOCHS: usual_lightning(x, y, device, batch, epochs),
            "hand": lambda epochs=EPOCHS: hand_written(x, y, device, batch, epochs),
        }
        for way in ways.values():  # warm-up: imports, first Trainer, first kernels
            way(epochs=1)
        times: dict[str, list[Timed]] = {}
        for _ in range(args.repeats):
            for name, way in ways.items():
                measure(name, way, times)
    report(times, args.repeats)
    warn_if_busy()


def warn_if_busy() -> None:
    load = os.getloadavg()[0]
    if load > 1.5:  # this benchmark itself keeps about one CPU busy
        print(
            f"note: load average {load:.1f} on {os.cpu_count()} CPUs: other processes were "
            "running; wall times are inflated, CPU times much less"
        )


if __name__ == "__main__":
    main()
