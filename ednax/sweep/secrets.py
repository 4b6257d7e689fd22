"""A sweep's passwords reach its jobs without being recorded.

sweep.json keeps every override masked (`ednax.errors.mask_password`, the one rule), yet
a job reads its overrides from sweep.json. The overrides that carry a password travel
beside it, in the environment of the sweep's process (`EDNAX_SWEEP_SECRETS`, a JSON map
from the masked override to the real one), which the launchers' job processes inherit
(local processes, joblib workers, submitit's jobs); a job puts them back when it reads
its plan. Nothing of them is written to disk.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable

from ednax.errors import mask_password

ENV = "EDNAX_SWEEP_SECRETS"


def hold(overrides: Iterable[str]) -> None:
    """Keep the real form of every override that masking changes, for the jobs."""
    held = _held()
    held.update({mask_password(o): o for o in overrides if mask_password(o) != o})
    if held:
        os.environ[ENV] = json.dumps(held)


def unmasked(overrides: Iterable[str]) -> list[str]:
    """`overrides` as the user gave them: a masked one replaced by its held real form."""
    held = _held()
    return [held.get(o, o) for o in overrides]


def _held() -> dict[str, str]:
    try:
        value = json.loads(os.environ.get(ENV, "{}"))
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
