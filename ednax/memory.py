"""The cyclic garbage collector through a command's life.

Starting, a command imports torch, Lightning and what they import: some 600,000 objects,
and each full collection on the way passes over every object made so far (for `ednax run`
of a small torch model, nine passes and about 1 s of its 4.6 s). While a command starts,
the survivors of each full collection are frozen (`gc.freeze`): they are what the imports
made, alive as long as the process, and later passes skip them (4.7 s to 4.2 s).

A process that goes on to many jobs (a sweep's trials) or requests (a server) stops
freezing when it begins them: what is alive then dies later. A torch job leaves its model,
optimizer and Trainer in reference cycles (the module and its trainer point at each
other), which only a full collection frees, and after start-up that is rare (none at all
in a search of 40 small trials): a GPU search would keep every past trial's tensors. So
the process collects after each job; after the first it freezes what survived (libraries,
caches kept across jobs), so that each later pass covers one job's objects.

A launcher's worker process (joblib's) starts as the command did: its first job imports
torch and Lightning, so it freezes as a command starts (`freeze_while_starting` when the
job begins), until its training begins.
"""

from __future__ import annotations

import gc
from typing import Any

_state = {"starting": False, "begun": False, "jobs": 0}


def freeze_while_starting() -> None:
    """From now until `started`, freeze the survivors of each full collection; nothing
    in a process whose work has begun (what is alive then dies later)."""
    if not _state["starting"] and not _state["begun"]:
        gc.callbacks.append(_freeze_survivors)
        _state["starting"] = True


def started() -> None:
    """The process turns to its long work: nothing more is frozen on the way."""
    _state["begun"] = True
    if _state["starting"]:
        gc.callbacks.remove(_freeze_survivors)
        _state["starting"] = False


def after_job() -> None:
    """Free what the last job left; after the first, set the long-lived objects aside."""
    started()
    gc.collect()
    if _state["jobs"] == 0:
        gc.freeze()
    _state["jobs"] += 1


def _freeze_survivors(phase: str, info: dict[str, Any]) -> None:
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()
