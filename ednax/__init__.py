"""ednax: a YAML-config-driven experiment runner for ML research.

`ednax.run`, `ednax.load` and `ednax.runs` are the Python API (see docs/api.md).
"""

from ednax import runs
from ednax.api import load, run, validate

__version__ = "0.1.0"
__all__ = ["load", "run", "runs", "validate"]
