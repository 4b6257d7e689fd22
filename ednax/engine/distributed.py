"""The processes of a distributed fit other than rank 0.

Lightning's DDP starts the other processes by running the same command again (`ednax run
CONFIG ...` or `ednax resume RUN`) with the rank in the environment; SLURM and torchrun
start every process themselves the same way. Each process composes the same config, loads
and preprocesses the same data and joins the fit. Rank 0 alone owns the run bundle: the
others run into a scratch bundle in a temporary folder, deleted when they finish, and say
nothing, so the user sees one run, written once.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ednax.engine.spec import ResolvedConfig


def is_other_rank(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process is one of a distributed fit's processes other than rank 0,
    as the launchers tell it: RANK (torchrun), SLURM_PROCID (srun with several tasks),
    NODE_RANK and LOCAL_RANK (Lightning's own launcher)."""
    if "RANK" in environ:
        return _number(environ["RANK"]) > 0
    if _number(environ.get("SLURM_NTASKS", "1")) > 1 and "SLURM_PROCID" in environ:
        return _number(environ["SLURM_PROCID"]) > 0
    return _number(environ.get("NODE_RANK", "0")) > 0 or _number(environ.get("LOCAL_RANK", "0")) > 0


def run_other_rank(config: ResolvedConfig, resume_from: Path | None = None) -> None:
    """Take part in the fit of `config` (continuing `resume_from`) without writing a bundle."""
    from ednax.engine.experiment import Experiment
    from ednax.engine.tracking import untracked

    config = untracked(config)  # rank 0 alone tracks the run (`tracker`)
    with tempfile.TemporaryDirectory(prefix="ednax-rank-") as scratch:
        Experiment(config, parent_dir=Path(scratch), say=_silent, resume_from=resume_from).run()


def _silent(line: str) -> None:
    pass


def _number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0
