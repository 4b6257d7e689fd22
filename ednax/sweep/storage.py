"""The Optuna storage of a search: its URL, one open storage per process, and what to say
of a URL whose database driver is missing.

The default storage is a SQLite file in the sweep folder; any Optuna RDB URL works. A URL
is never shown with its password (`ednax.errors.mask_password`, the one rule, which the
sql data step and the bundle writer use too). A job opens the storage the sweeper
created (`existing=True`), from the composed Hydra config when it can, so that a URL given
through an interpolation (`${oc.env:OPTUNA_STORAGE}`) never reaches a file.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from pathlib import Path
from typing import Any

from ednax.errors import MASK as MASK  # the rule is the errors module's: sweeps use it here
from ednax.errors import UsageError, missing_driver
from ednax.errors import mask_password as mask_password

DEFAULT_DB = "optuna.db"
SQLITE_TIMEOUT_S = 60
SQLITE_SYNC = "OFF"
# Workers started together on a new storage race to create its tables; the losers retry.
CREATE_RETRY_S = 60
OWNER_ATTR = "ednax_owner"  # a trial's user attribute: the process that asked for it

_STORAGES: dict[str, Any] = {}


def storage_url(configured: str | None, sweep_dir: Path) -> str:
    """The configured storage, else a SQLite file in the sweep folder."""
    return configured or f"sqlite:///{(Path(sweep_dir) / DEFAULT_DB).resolve()}"


def job_storage_url(sweep_dir: Path) -> str:
    """The storage of the running sweep, as a job sees it: from the composed Hydra config
    (so a URL given through an interpolation such as ${oc.env:...} is never written to
    disk), else the default SQLite file."""
    configured = None
    with contextlib.suppress(Exception):
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            configured = HydraConfig.get().sweeper.get("storage")
    return storage_url(configured, sweep_dir)


def open_storage(url: str, *, existing: bool = False) -> Any:
    """An RDB storage, one per URL and process (a joblib worker runs many trials; the
    basic launcher runs them in the sweeper's process). `existing` skips creating and
    checking the tables: a job's storage, which the sweeper opened first."""
    quiet_optuna()
    if url in _STORAGES:
        return _STORAGES[url]
    options: dict[str, Any] = {
        "skip_table_creation": existing,
        "skip_compatibility_check": existing,
    }
    if url.startswith("sqlite"):
        options["engine_kwargs"] = {"creator": _sqlite_opener(url)}
    storage = _cached(_create_storage(url, options))
    _STORAGES[url] = storage
    return storage


def quiet_optuna() -> None:
    """ednax prints one line per trial; Optuna's own INFO lines would repeat them."""
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def _create_storage(url: str, options: dict[str, Any]) -> Any:
    """`RDBStorage(url)`, retried while another process creates the same tables: Optuna
    checks for each table, then creates it, and stamps the schema version, so two sweeps
    started together on a new database can fail with "table already exists" or a unique
    constraint; a moment later the tables are there and the next attempt just opens them."""

    deadline = time.monotonic() + CREATE_RETRY_S
    while True:
        try:
            return _owning_storage_class()(url, **options)
        except ImportError:
            raise _missing_driver_error(url) from None
        except Exception as exc:
            if not _creation_race(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.1 + random.random() * 0.4)


@functools.cache
def _owning_storage_class() -> type:
    """Optuna's RDB storage, creating each new trial with its owner (`owner`, set by
    whoever asks) in the same transaction: a process killed a moment after asking leaves
    no trial without an owner, which nobody could tell from a live one. Optuna's cached
    storage creates trials through `_create_new_trial`, so that is where it goes in."""
    import optuna
    from optuna.trial import TrialState

    class OwningStorage(optuna.storages.RDBStorage):
        owner: dict[str, Any] | None = None

        def _create_new_trial(self, study_id: int, template_trial: Any = None) -> Any:
            if template_trial is None and self.owner is not None:
                template_trial = optuna.trial.create_trial(
                    state=TrialState.RUNNING, user_attrs={OWNER_ATTR: self.owner}
                )
            return super()._create_new_trial(study_id, template_trial)

    return OwningStorage


def _cached(backend: Any) -> Any:
    """`backend` behind Optuna's trial cache, made cheap per epoch (`_trial_cache_class`);
    the plain RDB storage, which Optuna wraps itself, where that cache is not there."""
    cache = _trial_cache_class()
    return backend if cache is None else cache(backend)


@functools.cache
def _trial_cache_class() -> type | None:
    """Optuna's cache of an RDB storage (what `optuna.load_study` wraps an RDB storage
    in), reading what a pruner asks for every epoch with one small query each: Optuna's
    cache reads a running trial's system attributes, and a study's id by its name, by a
    full read of the trial (seven queries) and a query. Hyperband asks for both at every
    report, a few milliseconds an epoch. The cache is Optuna's private class; without it
    the storage is returned as it is."""
    try:
        from optuna.storages._cached_storage import _CachedStorage
    except ImportError:
        return None

    class TrialCache(_CachedStorage):
        def __init__(self, backend: Any) -> None:
            super().__init__(backend)
            self._study_ids: dict[str, int] = {}

        @property
        def owner(self) -> dict[str, Any] | None:  # see OwningStorage
            return self._backend.owner

        @owner.setter
        def owner(self, value: dict[str, Any] | None) -> None:
            self._backend.owner = value

        def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
            with self._lock:
                finished = self._get_cached_trial(trial_id)
            if finished is not None:
                return finished.system_attrs
            return self._backend.get_trial_system_attrs(trial_id)

        def get_study_id_from_name(self, study_name: str) -> int:
            if study_name not in self._study_ids:
                self._study_ids[study_name] = self._backend.get_study_id_from_name(study_name)
            return self._study_ids[study_name]

        def delete_study(self, study_id: int) -> None:
            self._study_ids = {n: i for n, i in self._study_ids.items() if i != study_id}
            super().delete_study(study_id)

    return TrialCache


def _missing_driver_error(url: str) -> Exception:
    from sqlalchemy.engine import make_url

    message, hint = missing_driver(url, make_url(url).get_dialect().driver)
    return UsageError(f"the Optuna storage {message}: {hint}")


def _creation_race(exc: BaseException) -> bool:
    """An error of two processes creating the same tables (not a wrong URL or password)."""
    from sqlalchemy.exc import DBAPIError, IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    text = str(exc).lower()
    race = ("already exists", "duplicate", "database is locked")
    return isinstance(exc, DBAPIError) and any(words in text for words in race)


def _sqlite_opener(url: str):
    """Connections to a SQLite storage that wait for the lock (parallel jobs write to one
    file) and do not sync to disk on every commit: a commit survives a killed process, as
    bundle files do, and a study of hundreds of trials is not slowed by fsync."""
    import sqlite3

    from sqlalchemy.engine import make_url

    database = make_url(url).database or ":memory:"

    def connect() -> sqlite3.Connection:
        connection = sqlite3.connect(database, timeout=SQLITE_TIMEOUT_S, check_same_thread=False)
        connection.execute(f"PRAGMA synchronous={SQLITE_SYNC}")
        return connection

    return connect
