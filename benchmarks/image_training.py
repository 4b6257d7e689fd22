"""Training time of a small ResNet on PNG files three ways: ednax, the usual way, a hand loop.

The work: --images (20,000) generated 32x32 RGB PNG files in one folder per class (10
classes: a coloured shape per class on a noisy background, drawn from a seeded generator),
split by ednax's `image_folder` step into 80% train / 20% test (no val split: the other
two ways validate nothing either, so ednax monitors train/loss). Every way trains the same
network, transformers' ResNetForImageClassification with embedding_size 16, hidden_sizes
[16, 32, 64], depths [1, 1, 1] (ednax's `resnet` with those sizes builds exactly that
config), with cross-entropy, Adam at 1e-3, batches of 256, --epochs (2) epochs, with the
same augmentation: random crop with 4 pixels of zero padding, horizontal flip (p 0.5),
normalize by the train split's per-channel mean and std. Each ends, as ednax does, by
scoring the train and test splits with the trained weights (accuracy, printed, to show
that all three learned), and each figure includes that. Generating and
writing the files is not timed; they are kept in --data-dir (default: a folder under the
system's temp dir) and reused by later invocations.

All three run in this process, one after the other, timed the same way: wall time from
the call to the end of the final evaluation, with every heavy import (torch, Lightning,
kornia, transformers, PIL, ednax's engine) and one warm-up step of the network done before
any clock starts, and the files read once beforehand so that none comes from the disk.
Wall time is the measure; CPU time (of this process and its finished children, the
DataLoader workers) is printed beside it, because on a shared machine other processes
inflate wall time much more than CPU time.

- ednax: a whole run, as `ednax.api.run` does it (`load_config`, then
  `RunOptions.experiment(...).run()`), with one extra callback that timestamps Lightning's
  train start and end. The figure is the whole run, minus nothing: validating the config
  (listing the files, reading every image header), loading the data (the sha256
  fingerprint of every file), fitting normalize on train, decoding the images into
  memory (`trainer.loader: auto`), building the model and Trainer, training with
  checkpoints each epoch, evaluating every split, writing the bundle (predictions.csv,
  the exported model). The phases are printed from the callback and the run's own lines.
- usual way: a torch Dataset opening each file with PIL and applying the augmentation to
  each image with plain torch ops (torchvision is not installed), a DataLoader with 2
  workers and shuffle, a minimal LightningModule and Trainer(logger=False,
  enable_checkpointing=False, enable_progress_bar=False); the final scores come from the
  same Dataset without augmentation through a DataLoader. The normalize statistics are
  given as constants (ednax's, from its run), as such code usually hard-codes them.
- hand-written: every image decoded with PIL into one uint8 tensor (timed: ednax's
  figure includes its decoding too), the statistics computed from it, kornia's
  RandomCrop, RandomHorizontalFlip and Normalize (the layers ednax builds) applied to each
  batch on the device, a randperm per epoch, slices, a plain Adam loop.

Targets: on the CPU, ednax / hand-written <= 1.15x; on a GPU, usual way / ednax >= 3x (the
ratio is printed on the CPU too, without a target). Beside each whole figure: the seconds
before the training loop (for ednax, the time before its first epoch), in it (from
Lightning's train start to its end, checkpoints included, for ednax; `trainer.fit` for the
usual way; the epochs for the hand loop) and after it, and the ratios of the loops alone.

    python benchmarks/image_training.py [--images 20000] [--epochs 2] [--threads 1]
        [--data-dir DIR] [--device cpu|cuda] [--ways ednax,usual,hand]
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F

SEED = 0
CLASSES = 10
SIDE = 32
PADDING = 4
BATCH = 256
EVAL_ROWS = 1024  # ednax's eval batch: max(batch_size, 1024)
LR = 1e-3
TEST = 0.2
WORKERS = 2
RESNET = {"embedding_size": 16, "hidden_sizes": [16, 32, 64], "depths": [1, 1, 1]}
DATA_VERSION = 1  # bump when the generated images change

CONFIG = """\
experiment: {{name: image-benchmark, seed: {seed}, runs_dir: {runs_dir}}}
data: {{type: image_folder, path: {data}, channels: 3, val: 0.0, test: {test}}}
preprocess:
  - {{type: random_crop, padding: {padding}}}
  - {{type: horizontal_flip}}
  - {{type: normalize}}
model: {{type: resnet, embedding_size: {embedding_size}, hidden_sizes: {hidden_sizes},
        depths: {depths}}}
loss: {{type: cross_entropy}}
optimizer: {{type: adam, lr: {lr}}}
trainer: {{type: lightning, max_epochs: {epochs}, batch_size: {batch}, accelerator: {accelerator},
          loader: auto, progress: plain}}
metrics: {{names: [accuracy], monitor: train/loss, mode: min}}
"""


# The images ---------------------------------------------------------------------------------


def image_folder(data_dir: Path, n: int) -> Path:
    """`n` PNG files in one folder per class under `data_dir`, made once and then reused."""
    folder = data_dir / f"shapes-{n}-v{DATA_VERSION}"
    done = folder / ".complete"  # hidden: the image_folder step ignores it
    if done.is_file():
        return folder
    if folder.exists():  # left half-written by an interrupted invocation
        shutil.rmtree(folder)
    from PIL import Image

    start = time.perf_counter()
    for label in range(CLASSES):
        (folder / f"class{label}").mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    for first in range(0, n, 1000):
        labels = np.arange(first, min(first + 1000, n)) % CLASSES
        for offset, image in enumerate(draw(labels, rng)):
            name = f"class{labels[offset]}/{first + offset:05d}.png"
            Image.fromarray(image).save(folder / name)
    done.write_text(json.dumps({"images": n, "version": DATA_VERSION}) + "\n")
    print(f"wrote {n} images to {folder} in {time.perf_counter() - start:.1f} s (not timed)")
    return folder


def draw(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(n, 32, 32, 3) uint8 images: each a filled shape of its class (disc, square, ring,
    diamond, bars, plus, hollow square, triangle, two dots), of a hue near its class's, at
    a random place and size, on a noisy grey background. Every shape is symmetric left to
    right, so a horizontal flip keeps its class."""
    n = len(labels)
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    cy, cx = (rng.uniform(10, 22, (2, n, 1, 1))).astype(np.float32)
    r = rng.uniform(5, 9, (n, 1, 1)).astype(np.float32)
    dy, dx = yy - cy, xx - cx
    ady, adx, d = np.abs(dy), np.abs(dx), np.hypot(dx, dy)
    box, thin = np.maximum(adx, ady), r / 3
    masks = np.stack(
        [
            d <= r,
            box <= r,
            (d <= r) & (d >= r / 2),
            adx + ady <= r,
            (ady <= thin) & (adx <= r),
            (adx <= thin) & (ady <= r),
            ((adx <= thin) & (ady <= r)) | ((ady <= thin) & (adx <= r)),
            (box <= r) & (box >= r / 2),
            (ady <= r) & (adx <= (dy + r) / 2),
            np.hypot(adx - r / 2, dy) <= r / 2.5,
        ]
    )[labels, np.arange(n)]
    hue = (labels / CLASSES + rng.normal(0, 0.04, n)) % 1.0
    colour = hsv_to_rgb(hue, rng.uniform(0.6, 1.0, n), rng.uniform(0.6, 1.0, n))
    grey = rng.uniform(0.2, 0.6, (n, 1, 1, 1))
    background = np.clip(grey + rng.normal(0, 0.12, (n, SIDE, SIDE, 3)), 0, 1)
    images = np.where(masks[..., None], colour[:, None, None, :], background)
    return np.rint(images * 255).astype(np.uint8)


def hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    k = (np.array([5.0, 3.0, 1.0]) + h[:, None] * 6) % 6
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4 - k), 0, 1)


# What every way shares ----------------------------------------------------------------------


def make_net() -> nn.Module:
    """transformers' ResNet with the config ednax's `resnet` builds for these sizes."""
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(SEED)
    config = ResNetConfig(num_channels=3, num_labels=CLASSES, layer_type="basic", **RESNET)
    return Logits(ResNetForImageClassification(config))


class Logits(nn.Module):
    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(pixel_values=x).logits


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
    """One way's wall and CPU seconds, the wall seconds before its training loop, the wall
    and CPU seconds of the loop, its final accuracies, and (for ednax) wall seconds from
    the start to each phase."""

    wall: float
    cpu: float
    before: float
    loop: float
    loop_cpu: float
    accuracy: dict[str, float]
    phases: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class Data:
    """The split ednax's data step made, as files and labels (for the other two ways)."""

    files: dict[str, list[Path]]
    labels: dict[str, torch.Tensor]
    mean: list[float]
    std: list[float]


def accuracy_of(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    return float((predicted.cpu() == labels.cpu()).float().mean())


# ednax --------------------------------------------------------------------------------------


class PhaseTimer(pl.Callback):
    """Seconds since `clock` started at Lightning's train start, each epoch end, train end."""

    def __init__(self, clock: Clock, phases: list[tuple[str, float]]):
        self.clock, self.phases = clock, phases
        self.cpu: dict[str, float] = {}

    def mark(self, name: str) -> None:
        wall, self.cpu[name] = self.clock.read()
        self.phases.append((name, wall))

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.mark("train start")

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.mark(f"epoch {trainer.current_epoch + 1} end")

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.mark("train end")


def ednax_run(config_file: Path) -> tuple[Timed, Path]:
    """A whole ednax run in this process; its bundle's path."""
    from ednax.app.running import RunOptions
    from ednax.config.resolve import load_config

    phases: list[tuple[str, float]] = []
    clock = Clock()

    def say(line: str) -> None:  # the run's own lines, timestamped
        for start, phase in (("data:", "data loaded"), ("preprocess:", "preprocess fitted")):
            if line.startswith(start):
                phases.append((phase, clock.read()[0]))

    resolved = load_config(config_file)  # what ednax.api.run does, plus a callback
    phases.append(("config resolved", clock.read()[0]))
    options = RunOptions(say=say, command=["ednax", "run", str(config_file)])
    timer = PhaseTimer(clock, phases)
    outcome = options.experiment(resolved, callbacks=[timer]).run()
    wall, cpu = clock.read()
    if outcome.status != "completed":
        raise RuntimeError(f"the ednax run ended {outcome.status}: {outcome.error}")
    marks = dict(phases)
    loop = marks["train end"] - marks["train start"]
    loop_cpu = timer.cpu["train end"] - timer.cpu["train start"]
    accuracy = {split: scores["accuracy"] for split, scores in outcome.metrics.items()}
    return Timed(wall, cpu, marks["train start"], loop, loop_cpu, accuracy, phases), outcome.path


def split_of(config_file: Path, bundle: Path | None) -> Data:
    """ednax's split of the files (its data step, with the run's resolved section) and the
    normalize statistics it computed on train (from the bundle; without one, computed
    here as ednax computes them)."""
    from ednax.config.resolve import load_config
    from ednax.engine.preprocessing import IMAGE_PREPROCESS, prepare_images
    from ednax.registry import REGISTRY

    resolved = load_config(config_file)
    dataset = REGISTRY.build("data", resolved["data"]).load()
    if bundle is not None:
        state = json.loads((bundle / "artifacts" / IMAGE_PREPROCESS).read_text())
    else:
        state = prepare_images(dataset, resolved.get("preprocess") or []).pipeline.state()
    (fitted,) = state["fitted"].values()
    splits = dataset.splits
    return Data(
        files={name: list(split.files) for name, split in splits.items()},
        labels={name: torch.as_tensor(s.y, dtype=torch.int64) for name, s in splits.items()},
        mean=fitted["mean"],
        std=fitted["std"],
    )


# The usual way: files through a DataLoader, per-image transforms, Lightning -----------------


class FileImages(torch.utils.data.Dataset):
    """Each image opened with PIL, as a float tensor, augmented (train) and normalized."""

    def __init__(self, files: Sequence[Path], labels: torch.Tensor, data: Data, augment: bool):
        self.files, self.labels, self.augment = list(files), labels, augment
        self.mean = torch.tensor(data.mean).view(3, 1, 1)
        self.std = torch.tensor(data.std).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        from PIL import Image

        with Image.open(self.files[i]) as image:
            pixels = np.array(image.convert("RGB"), dtype=np.uint8)
        x = torch.from_numpy(pixels).permute(2, 0, 1).float().div_(255)
        if self.augment:
            x = F.pad(x, (PADDING,) * 4)
            top, left = torch.randint(0, 2 * PADDING + 1, (2,)).tolist()
            x = x[:, top : top + SIDE, left : left + SIDE]
            if torch.rand(()) < 0.5:
                x = x.flip(-1)
        return (x - self.mean) / self.std, self.labels[i]


class UsualModule(pl.LightningModule):
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


def usual_way(data: Data, device: str, epochs: int) -> Timed:
    from torch.utils.data import DataLoader

    clock = Clock()
    cuda = device == "cuda"

    def loader(split: str, augment: bool, batch: int) -> DataLoader:
        images = FileImages(data.files[split], data.labels[split], data, augment)
        return DataLoader(
            images, batch_size=batch, shuffle=augment, num_workers=WORKERS, pin_memory=cuda
        )

    module = UsualModule(make_net())
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="gpu" if cuda else "cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    before, loop = clock.read()[0], Clock()
    trainer.fit(module, loader("train", True, BATCH))
    loop_wall, loop_cpu = loop.read()
    net = module.net.to(device).eval()
    accuracy = {}
    with torch.no_grad():
        for split in data.files:
            predicted = [
                net(x.to(device, non_blocking=True)).argmax(1)
                for x, _ in loader(split, False, EVAL_ROWS)
            ]
            accuracy[split] = accuracy_of(torch.cat(predicted), data.labels[split])
    wall, cpu = clock.read()
    return Timed(wall, cpu, before, loop_wall, loop_cpu, accuracy)


# A hand-written loop over in-memory tensors, kornia augmentation -----------------------------


def decode_all(files: Sequence[Path]) -> torch.Tensor:
    from PIL import Image

    out = np.empty((len(files), SIDE, SIDE, 3), dtype=np.uint8)
    for i, file in enumerate(files):
        with Image.open(file) as image:
            out[i] = np.asarray(image.convert("RGB"))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def hand_written(data: Data, device: str, epochs: int) -> Timed:
    import kornia.augmentation as K

    clock = Clock()
    x = {split: decode_all(files).to(device) for split, files in data.files.items()}
    y = {split: labels.to(device) for split, labels in data.labels.items()}
    pixels = x["train"].double().div_(255)
    mean = pixels.mean(dim=(0, 2, 3)).float()
    std = pixels.std(dim=(0, 2, 3), unbiased=False).float()
    del pixels
    normalize = K.Normalize(mean=mean, std=std).to(device)
    augment = [
        K.RandomCrop((SIDE, SIDE), padding=PADDING).to(device),
        K.RandomHorizontalFlip(p=0.5).to(device),
        normalize,
    ]
    model = make_net().to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(SEED)
    rows = len(y["train"])
    before, loop = clock.read()[0], Clock()
    for _ in range(epochs):
        order = torch.randperm(rows, generator=generator).to(device)
        xs, ys = x["train"][order], y["train"][order]
        for first in range(0, rows, BATCH):
            xb = xs[first : first + BATCH].float().div_(255)
            for layer in augment:
                xb = layer(xb)
            loss = loss_fn(model(xb), ys[first : first + BATCH])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    loop_wall, loop_cpu = loop.read()
    model.eval()
    accuracy = {}
    with torch.no_grad():
        for split, images in x.items():
            predicted = [
                model(normalize(images[i : i + EVAL_ROWS].float().div_(255))).argmax(1)
                for i in range(0, len(images), EVAL_ROWS)
            ]
            accuracy[split] = accuracy_of(torch.cat(predicted), y[split])
    wall, cpu = clock.read()
    return Timed(wall, cpu, before, loop_wall, loop_cpu, accuracy)


# The run ------------------------------------------------------------------------------------


def warm_up(device: str) -> None:
    """The imports and first kernels every way would otherwise pay on its first step."""
    import kornia.augmentation as K

    for module in (
        "PIL.Image",
        "transformers.models.resnet",
        "ednax.app.running",
        "ednax.engine.experiment",
        "ednax.engine.torch",
        "ednax.engine.lightning.fit",
        "ednax.steps.images.backbones",
        "ednax.steps.images.pipeline",
    ):
        importlib.import_module(module)

    net = make_net().to(device)
    x = torch.rand(BATCH, 3, SIDE, SIDE, device=device)
    x = K.RandomHorizontalFlip()(K.RandomCrop((SIDE, SIDE), padding=PADDING)(x))
    F.cross_entropy(net(x), torch.zeros(BATCH, dtype=torch.int64, device=device)).backward()


def read_files(folder: Path) -> None:
    """Every file read once, so that no way reads one from the disk."""
    for file in folder.rglob("*.png"):
        file.read_bytes()


def quiet() -> None:
    """Lightning's banners and notices say nothing about the timings."""
    for name in ("pytorch_lightning", "lightning_fabric", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module=r"pytorch_lightning.*|lightning_fabric.*")
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")


def config_text(folder: Path, runs_dir: Path, epochs: int, device: str) -> str:
    return CONFIG.format(
        seed=SEED,
        runs_dir=json.dumps(str(runs_dir)),
        data=json.dumps(str(folder)),
        test=TEST,
        padding=PADDING,
        lr=LR,
        epochs=epochs,
        batch=BATCH,
        accelerator="gpu" if device == "cuda" else "cpu",
        **{k: json.dumps(v) for k, v in RESNET.items()},
    )


def report(times: dict[str, Timed], train_rows: int, epochs: int, device: str) -> None:
    labels = {"ednax": "ednax run", "usual": "usual (DataLoader+PL)", "hand": "hand-written"}
    threads = torch.get_num_threads()
    print(f"\n{train_rows} train images x {epochs} epochs on {device}, {threads} torch thread(s):")
    print(
        f"  {'':<22} {'wall':>8} {'cpu':>8} {'images/s':>9} {'before':>8} {'loop':>8} "
        f"{'loop cpu':>8} {'after':>8}   accuracy train/test"
    )
    for name, t in times.items():
        rate = train_rows * epochs / t.wall
        after = t.wall - t.before - t.loop
        scores = "/".join(f"{t.accuracy.get(s, float('nan')):.3f}" for s in ("train", "test"))
        print(
            f"  {labels[name]:<22} {t.wall:7.2f}s {t.cpu:7.2f}s {rate:9.0f} {t.before:7.2f}s "
            f"{t.loop:7.2f}s {t.loop_cpu:7.2f}s {after:7.2f}s   {scores}"
        )
    print("  images/s: train images x epochs / wall")
    print("  before, loop, after: wall seconds before the training loop, in it, after it")
    if "ednax" in times:
        print("  ednax's phases, seconds from the start (wall):")
        previous = 0.0
        for phase, at in times["ednax"].phases:
            print(f"    {phase:<34} {at:7.2f}s  (+{at - previous:.2f})")
            previous = at
        print(f"    {'run returned (evaluation, bundle)':<34} {times['ednax'].wall:7.2f}s")
    print("ratios (wall; beside: CPU, and the training loops alone):")
    for label, top, bottom, target in (
        ("ednax / hand-written", "ednax", "hand", ("cpu", "<= 1.15x", lambda r: r <= 1.15)),
        ("usual way / ednax", "usual", "ednax", ("cuda", ">= 3x", lambda r: r >= 3)),
        ("usual way / hand", "usual", "hand", None),
    ):
        if top not in times or bottom not in times:
            continue
        whole = times[top].wall / times[bottom].wall
        cpu = times[top].cpu / times[bottom].cpu
        loops = times[top].loop / times[bottom].loop
        loops_cpu = times[top].loop_cpu / times[bottom].loop_cpu
        line = (
            f"  {label:<22} {whole:6.2f}x  (cpu {cpu:.2f}x; loops {loops:.2f}x, "
            f"loops cpu {loops_cpu:.2f}x)"
        )
        if target is not None:
            on, text, met = target
            if on == device:
                line += f"   target {text}: {'met' if met(whole) else 'MISSED'}"
            else:
                line += f"   (target {text} on {on} only)"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--data-dir", type=Path, default=None, help="where the PNGs are kept")
    parser.add_argument(
        "--device", choices=("cpu", "cuda"), default="cuda" if torch.cuda.is_available() else "cpu"
    )
    parser.add_argument("--ways", default="ednax,usual,hand", help="a subset, comma-separated")
    args = parser.parse_args()
    ways = [w.strip() for w in args.ways.split(",")]
    if unknown := set(ways) - {"ednax", "usual", "hand"}:
        parser.error(f"unknown ways: {', '.join(sorted(unknown))}")
    torch.set_num_threads(args.threads)
    quiet()
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / "ednax-image-benchmark"
    folder = image_folder(data_dir, args.images)
    read_files(folder)
    warm_up(args.device)
    times: dict[str, Timed] = {}
    with tempfile.TemporaryDirectory() as tmp:
        config_file = Path(tmp) / "image-benchmark.yaml"
        config_file.write_text(config_text(folder, Path(tmp) / "runs", args.epochs, args.device))
        bundle = None
        if "ednax" in ways:  # first, so that its data step finds no image headers read before
            times["ednax"], bundle = ednax_run(config_file)
        data = split_of(config_file, bundle)
        run_way: dict[str, Callable[[], Timed]] = {
            "usual": lambda: usual_way(data, args.device, args.epochs),
            "hand": lambda: hand_written(data, args.device, args.epochs),
        }
        for name in ("usual", "hand"):
            if name in ways:
                torch.use_deterministic_algorithms(False)  # ednax's Trainer switches it on
                times[name] = run_way[name]()
    report(times, len(data.labels["train"]), args.epochs, args.device)
    warn_if_busy()


def warn_if_busy() -> None:
    load = os.getloadavg()[0]
    if load > 1.5:
        print(
            f"note: load average {load:.1f} on {os.cpu_count()} CPUs: other processes were "
            "running; wall times are inflated, CPU times much less"
        )


if __name__ == "__main__":
    main()
