"""The run store: bundles written, indexed, found, listed, diffed and compared.

The package is also callable, as the Python API's listing: `ednax.runs("runs")` is a
DataFrame of the bundles under that folder (`ednax.runs.frame.runs_frame`).
"""

from __future__ import annotations

import sys
import types


class _Package(types.ModuleType):
    def __call__(self, runs_dir="runs", experiment=None):
        """The bundles under `runs_dir` (one experiment's, if given) as a DataFrame."""
        from ednax.runs.frame import runs_frame

        return runs_frame(runs_dir, experiment)


sys.modules[__name__].__class__ = _Package
