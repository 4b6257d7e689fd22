"""Finding bundles: a reference (a bundle path, a run id, a unique prefix of one, or
`latest` / `latest~N`) turned into a bundle directory under a runs directory.

A reference may also name the experiment: `iris-mlp/latest`, `iris-mlp/20261125-0843`,
`runs/iris-mlp/latest~2`. Ids and prefixes are looked up in the runs directory's index
(`ednax.runs.index`), which also sees bundles inside sweep folders.
"""

from __future__ import annotations

from pathlib import Path

from ednax.errors import Suggestions, UsageError, did_you_mean
from ednax.runs.bundle import CONFIG_FILE, RUN_FILE
from ednax.runs.index import RunIndex, list_runs, read_record
from ednax.runs.layout import LATEST, RUN_ID
from ednax.runs.record import CORRUPT, RunRecord

_CANDIDATES_SHOWN = 10


def is_bundle(path: Path) -> bool:
    return (path / RUN_FILE).is_file()


def find_run(
    ref: str,
    runs_dir: Path = Path("runs"),
    experiment: str | None = None,
    *,
    incomplete: bool = False,
) -> Path:
    """The bundle folder `ref` names; a UsageError listing candidates when it names none
    or several.

    With `incomplete`, a bundle without a readable run.json (killed while starting) may be
    named too, so that `ednax show` can say what is wrong with it.
    """
    candidate = _named_folder(ref)
    if candidate is not None and is_bundle(candidate):
        return candidate
    return find_record(ref, Path(runs_dir), experiment, incomplete=incomplete).path


def find_record(
    ref: str,
    runs_dir: Path = Path("runs"),
    experiment: str | None = None,
    *,
    incomplete: bool = False,
) -> RunRecord:
    """Like `find_run`, with what the index knows of the run."""
    return RunFinder(runs_dir, experiment).find(ref, incomplete=incomplete)


def find_records(
    refs: list[str], runs_dir: Path = Path("runs"), experiment: str | None = None
) -> list[RunRecord]:
    """Each reference resolved, in order; a run named twice counts once."""
    finder = RunFinder(runs_dir, experiment)
    found: dict[Path, RunRecord] = {}
    for ref in refs:
        record = finder.find(ref)
        found.setdefault(record.path.resolve(), record)
    return list(found.values())


class RunFinder:
    """Resolves references in one runs directory, listing each experiment at most once.

    A full run id is looked up in the index directly (and checked on disk); a prefix or
    `latest` needs the index caught up with every bundle first.
    """

    def __init__(self, runs_dir: Path = Path("runs"), experiment: str | None = None):
        self.runs_dir = Path(runs_dir)
        self.experiment = experiment
        self._listed: dict[tuple[Path, str | None], list[RunRecord]] = {}

    def find(self, ref: str, *, incomplete: bool = False) -> RunRecord:
        candidate = _named_folder(ref)
        if candidate is not None and (
            is_bundle(candidate) or (incomplete and _looks_like_bundle(candidate))
        ):
            return read_record(candidate)
        runs_dir, experiment, name = _split_ref(ref, self.runs_dir, self.experiment)
        if RUN_ID.fullmatch(name):
            hits = [
                r
                for r in RunIndex(runs_dir).lookup(name)
                if (incomplete or r.has_run_file) and experiment in (None, r.experiment)
            ]
            if len(hits) == 1:
                return hits[0]
        known = self._known(runs_dir, experiment)
        if not incomplete:
            known = [r for r in known if r.has_run_file]
        if name == "latest" or name.startswith("latest~"):
            usable = [r for r in known if r.status != CORRUPT]
            return _latest(name, usable, runs_dir, experiment)
        exact = [r for r in known if r.id == name]
        matches = exact or [
            r for r in known if r.id.startswith(name) or _folder_name(r).startswith(name)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UsageError(_unknown_message(ref, name, known, runs_dir, experiment))
        listed = "\n  ".join(_describe(r) for r in matches[-_CANDIDATES_SHOWN:])
        more = len(matches) - _CANDIDATES_SHOWN
        raise UsageError(
            f"'{ref}' matches {len(matches)} runs; give more of the id:\n  {listed}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )

    def _known(self, runs_dir: Path, experiment: str | None) -> list[RunRecord]:
        key = (runs_dir, experiment)
        if key not in self._listed:
            check_runs_dir(runs_dir)
            check_experiment(runs_dir, experiment)
            self._listed[key] = list_runs(runs_dir, experiment)
        return self._listed[key]


def _named_folder(ref: str) -> Path | None:
    """The folder `ref` names as a path; None for the `latest` link: `runs/x/latest` is
    the reference `x/latest` (the newest run started), as it was before the link."""
    candidate = Path(ref).expanduser()
    return None if candidate.name == LATEST and candidate.is_symlink() else candidate


def experiments(runs_dir: Path) -> list[str]:
    if not runs_dir.is_dir():
        return []
    return sorted(p.name for p in runs_dir.iterdir() if p.is_dir() and not p.name.startswith("."))


def check_experiment(runs_dir: Path, experiment: str | None) -> None:
    """A UsageError naming the experiments there are when `experiment` is not one."""
    if experiment is None:
        return
    check_runs_dir(runs_dir)
    if not (runs_dir / experiment).is_dir():
        known = experiments(runs_dir)
        hint = did_you_mean(experiment, known, "experiment")
        raise UsageError(
            f"no experiment '{experiment}' under {runs_dir}" + (f"; {hint}" if hint else "")
        )


def check_runs_dir(runs_dir: Path) -> None:
    if not runs_dir.is_dir():
        raise UsageError(
            f"no runs directory '{runs_dir}' here: run an experiment first, or pass "
            "--runs-dir (the experiment's runs_dir)"
        )


def _split_ref(ref: str, runs_dir: Path, experiment: str | None) -> tuple[Path, str | None, str]:
    """`iris-mlp/latest` or `runs/iris-mlp/latest`: the experiment comes with the name."""
    if "/" not in ref.strip("/"):
        return runs_dir, experiment, ref
    head, _, name = ref.rstrip("/").rpartition("/")
    head_path = Path(head).expanduser()
    if (runs_dir / head).is_dir() and "/" not in head:
        return runs_dir, head, name
    if head_path.is_dir():
        return head_path.parent, head_path.name, name
    experiments = (
        sorted(p.name for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []
    )
    near = Suggestions([e for e in experiments if not e.startswith(".")]).near(head)
    hint = f"; did you mean '{near[0]}/{name}'?" if near and "/" not in head else ""
    raise UsageError(
        f"no run '{ref}': it is not a bundle folder, and '{head}' is neither an experiment "
        f"under {runs_dir} nor a folder{hint}"
    )


def _latest(ref: str, known: list[RunRecord], runs_dir: Path, experiment: str | None) -> RunRecord:
    back = ref.partition("~")[2]
    if back and not back.isdigit():
        raise UsageError(f"'{ref}': write latest~N with N a number (latest~1 is the one before)")
    steps = int(back or 0)
    where = f"{runs_dir}/{experiment}" if experiment else str(runs_dir)
    if steps >= len(known):
        raise UsageError(f"'{ref}': there are only {len(known)} runs under {where}")
    return known[-1 - steps]


def _unknown_message(
    ref: str, name: str, known: list[RunRecord], runs_dir: Path, experiment: str | None
) -> str:
    where = f"{runs_dir}/{experiment}" if experiment else str(runs_dir)
    message = f"no run '{ref}': it is neither a bundle folder nor a run id under {where}"
    if RUN_ID.fullmatch(name) or len(name) >= 8:
        import difflib

        near = difflib.get_close_matches(name, [r.id for r in known[-2000:]], n=3, cutoff=0.8)
        if near:
            return message + "; did you mean " + " or ".join(near) + "?"
    if known:
        latest = "\n  ".join(_describe(r) for r in reversed(known[-3:]))  # latest first
        message += f"; the latest runs are:\n  {latest}"
    return message


def _folder_name(record: RunRecord) -> str:
    return record.rel.rpartition("/")[2]


def _describe(record: RunRecord) -> str:
    return f"{record.id}  {record.experiment}  {record.status}  ({record.rel})"


def _looks_like_bundle(path: Path) -> bool:
    return path.is_dir() and (
        RUN_ID.fullmatch(path.name) is not None or (path / CONFIG_FILE).is_file()
    )
