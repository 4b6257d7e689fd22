"""`runs/<experiment>/latest`: a link on disk to the experiment's last completed run, so
that `cat runs/iris-mlp/latest/metrics.json` and a config's
`runs/base/latest/artifacts/pretrained` work without ednax.

The link is relative (the runs folder can move) and replaced atomically: a new link is
made under a hidden name and renamed over the old one, so a reader never finds it missing
and runs completing together leave it on one of them. A run of a sweep is linked from its
experiment's folder too. Where links cannot be made (a file system without them), or a
real folder is named `latest`, nothing is linked: the `latest` run reference of the CLI
never depends on the link.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from ednax.runs.layout import LATEST, is_sweep_folder


def link_latest(bundle_dir: Path) -> Path | None:
    """Point `runs/<experiment>/latest` at `bundle_dir`; the link, or None if not made."""
    bundle_dir = Path(bundle_dir)
    experiment_dir = bundle_dir.parent
    if is_sweep_folder(experiment_dir):
        experiment_dir = experiment_dir.parent
    link = experiment_dir / LATEST
    if link.exists() and not link.is_symlink():
        return None
    temporary = experiment_dir / f".{LATEST}-{uuid.uuid4().hex[:12]}"
    try:
        os.symlink(os.path.relpath(bundle_dir, experiment_dir), temporary, True)
        os.replace(temporary, link)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return None
    return link
