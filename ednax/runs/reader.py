"""Reading a bundle: each of its files parsed at most once, into one `BundleFiles`.

    files = BundleFiles(Path("runs/iris-mlp/20261125-083000-3f9a1c"))
    files.run, files.run_problem        # run.json as a dict ({} when unusable), what is wrong
    files.metrics                       # metrics.json, flattened: {"val/accuracy": 0.97}
    files.config                        # the resolved config.yaml, or None
    files.monitor                       # Monitor("val/accuracy", "max")

Every module of `ednax.runs` that looks into a bundle goes through this class, so the
bundle format is known in one place. Files are read on first use and kept: the index reads
run.json and metrics.json of 10,000 bundles and, for bundles whose run.json does not
record the monitor, only the top-level `metrics:` block of config.yaml (parsing a whole
config costs about a millisecond); `ednax show` and `ednax diff` read more of one bundle.
A file that is missing or unreadable never raises: its value is empty and its `*_problem`
says why ("missing", "not valid JSON (truncated?)", ...).
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ednax.runs.bundle import (
    CONFIG_FILE,
    ENV_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    OVERRIDES_FILE,
    PATCH_FILE,
    RUN_FILE,
)

SWEEP_FILE = "sweep.json"
DIRECTIONS = ("min", "max")
_UNSET: Any = object()


@dataclass(frozen=True)
class Monitor:
    """The monitored metric ("val/accuracy") and its direction ("max", "min" or None)."""

    name: str | None = None
    mode: str | None = None


class BundleFiles:
    """The parsed files of one bundle folder, each read on first use and then kept."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._cache: dict[str, Any] = {}

    def __repr__(self) -> str:
        return f"BundleFiles({str(self.path)!r})"

    def _once(self, key: str, read) -> Any:
        if key not in self._cache:
            self._cache[key] = read()
        return self._cache[key]

    # --- run.json -------------------------------------------------------------------------

    def _run_json(self) -> tuple[dict[str, Any], str | None]:
        def read() -> tuple[dict[str, Any], str | None]:
            data, problem = read_json(self.path / RUN_FILE)
            if problem is None and not isinstance(data, dict):
                return {}, "not a JSON object"
            return (data if isinstance(data, dict) else {}), problem

        return self._once("run", read)

    @property
    def run(self) -> dict[str, Any]:
        """run.json; {} when it is missing or not a JSON object."""
        return self._run_json()[0]

    @property
    def run_problem(self) -> str | None:
        """What is wrong with run.json ("missing", "not a JSON object", ...), or None."""
        return self._run_json()[1]

    def run_dict(self, key: str) -> dict[str, Any]:
        """A field of run.json that should be an object; {} when it is not."""
        value = self.run.get(key)
        return value if isinstance(value, dict) else {}

    @property
    def directions(self) -> dict[str, str]:
        """run.json's "directions": metric name (no split) -> "max" or "min"; {} for a
        bundle written before runs recorded them."""
        return {
            str(name): mode
            for name, mode in self.run_dict("directions").items()
            if mode in DIRECTIONS
        }

    @property
    def defaults(self) -> dict[str, dict[str, Any]] | None:
        """run.json's "defaults": per step section path ("model", "preprocess[0]"), each
        parameter's declared default (required parameters absent); None for a bundle
        written before runs recorded them."""
        value = self.run.get("defaults")
        if not isinstance(value, dict):
            return None
        return {str(k): v for k, v in value.items() if isinstance(v, dict)}

    @property
    def monitor(self) -> Monitor:
        """run.json's "monitor" when it records one (null: nothing is monitored); for an
        older bundle, `metrics.monitor` and `metrics.mode` of config.yaml."""
        return self._once("monitor", self._read_monitor)

    def _read_monitor(self) -> Monitor:
        recorded = self.run.get("monitor", _UNSET)
        if recorded is not _UNSET:
            return _monitor(recorded if isinstance(recorded, dict) else {}, "name")
        if "config" in self._cache:
            config = self.config or {}
            section = config.get("metrics")
        else:
            section = _metrics_block(self.path / CONFIG_FILE)
        return _monitor(section if isinstance(section, dict) else {}, "monitor")

    # --- the other files ------------------------------------------------------------------

    def _metrics_json(self) -> tuple[Any, str | None]:
        return self._once("metrics", lambda: read_json(self.path / METRICS_FILE))

    @property
    def metrics_by_split(self) -> dict[str, Any]:
        """metrics.json as written: {"val": {"accuracy": 0.97}, ...}; {} when unusable."""
        data = self._metrics_json()[0]
        return data if isinstance(data, dict) else {}

    @property
    def metrics(self) -> dict[str, float]:
        """metrics.json flattened: {"val/accuracy": 0.97}; numbers only."""
        return self._once("flat_metrics", lambda: flat_metrics(self.metrics_by_split))

    @property
    def metrics_problem(self) -> str | None:
        return self._metrics_json()[1]

    def metrics_trouble(self, status: Any) -> str | None:
        """What is wrong with metrics.json, when that is a problem for a run with this
        status: a missing file only matters once the run completed."""
        problem = self.metrics_problem
        if problem and (problem != "missing" or status == "completed"):
            return f"{METRICS_FILE} is {problem}"
        return None

    def _env_json(self) -> tuple[Any, str | None]:
        return self._once("env", lambda: read_json(self.path / ENV_FILE))

    @property
    def env(self) -> dict[str, Any]:
        """env.json (interpreter, machine, packages, git); {} when unusable."""
        data = self._env_json()[0]
        return data if isinstance(data, dict) else {}

    @property
    def env_problem(self) -> str | None:
        return self._env_json()[1]

    @property
    def config(self) -> dict[str, Any] | None:
        """The resolved config.yaml; None when it is missing or unreadable."""
        return self._once("config", lambda: _mapping(read_yaml(self.path / CONFIG_FILE)))

    @property
    def overrides(self) -> list[Any]:
        """overrides.yaml: what the command line changed; [] when unusable."""
        value = self._once("overrides", lambda: read_yaml(self.path / OVERRIDES_FILE))
        return value if isinstance(value, list) else []

    def history_rows(self) -> list[dict[str, str]] | None:
        """history.csv's rows (one per epoch, values as text); None when there is none
        (an estimator run)."""
        try:
            with open(self.path / HISTORY_FILE, encoding="utf-8", newline="") as handle:
                return list(csv.DictReader(handle))
        except FileNotFoundError:
            return None

    @property
    def patch_size(self) -> int | None:
        """The size of code.patch (written when the tree was dirty), or None."""
        try:
            return (self.path / PATCH_FILE).stat().st_size
        except OSError:
            return None

    def patch_digest(self) -> str | None:
        """ "sha256:<12 hex>" of code.patch, or None when there is none."""
        try:
            data = (self.path / PATCH_FILE).read_bytes()
        except OSError:
            return None
        return "sha256:" + hashlib.sha256(data).hexdigest()[:12]


def read_sweep(folder: Path) -> dict[str, Any] | None:
    """A sweep folder's sweep.json, if it has a readable one."""
    data, _ = read_json(folder / SWEEP_FILE)
    return data if isinstance(data, dict) else None


# --- parsing --------------------------------------------------------------------------------


def read_json(path: Path) -> tuple[Any, str | None]:
    """The parsed file and None, or None and what is wrong ("missing", "truncated...")."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, "missing"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"unreadable ({exc.__class__.__name__})"
    if not text.strip():
        return None, "empty"
    try:
        return json.loads(text), None
    except ValueError:
        return None, "not valid JSON (truncated?)"


def read_yaml(path: Path) -> Any:
    """The parsed YAML file; None when it is missing, unreadable or not YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return parse_yaml(text)


def parse_yaml(text: str) -> Any:
    if not text:
        return None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        return None


def flat_metrics(metrics: dict[str, Any], prefix: str = "") -> dict[str, float]:
    """{"val": {"accuracy": 0.9}} -> {"val/accuracy": 0.9}; values that are not numbers
    (and NaN/inf, which JSON cannot carry) are left out."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_metrics(value, f"{name}/"))
        elif is_number(value) and math.isfinite(value):
            out[name] = float(value)
    return out


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _metrics_block(config_path: Path) -> Any:
    """The `metrics:` section of a resolved config.yaml, parsing only that top-level block
    (the bundle writes block-style YAML); the whole file when that fails."""
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    section = parse_yaml(_top_level_block(text, "metrics"))
    if isinstance(section, dict) and "metrics" in section:
        return section["metrics"]
    whole = parse_yaml(text)
    return whole.get("metrics") if isinstance(whole, dict) else None


def _top_level_block(text: str, key: str) -> str:
    start = text.find(f"\n{key}:")
    if start < 0:
        return ""
    lines = text[start + 1 :].split("\n")
    block = [lines[0]]
    for line in lines[1:]:
        if line and not line[0].isspace() and not line.startswith(("-", "#")):
            break
        block.append(line)
    return "\n".join(block)


def _monitor(section: dict[str, Any], name_key: str) -> Monitor:
    name, mode = section.get(name_key), section.get("mode")
    return Monitor(
        name if isinstance(name, str) else None,
        mode if mode in DIRECTIONS else None,
    )


def _mapping(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None
