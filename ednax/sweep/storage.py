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
import copy
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
VERSION_TOKEN = "ednax_version_token"  # marks a SQLite connection whose data_version is read

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
    sqlite = url.startswith("sqlite")
    options: dict[str, Any] = {
        "skip_table_creation": existing,
        # tables this Optuna is about to create need no check against it (two script
        # reads of Optuna's migrations, 0.05-0.1 s)
        "skip_compatibility_check": existing or (sqlite and _new_sqlite_file(url)),
    }
    if sqlite:
        # the connection last returned is the next one lent: the database's version is
        # read on the connection that wrote (`_trial_cache_class`)
        options["engine_kwargs"] = {"creator": _sqlite_opener(url), "pool_use_lifo": True}
    storage = _cached(_create_storage(url, options), versioned=sqlite)
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


def _cached(backend: Any, *, versioned: bool = False) -> Any:
    """`backend` behind Optuna's trial cache, made cheap per epoch and per ask
    (`_trial_cache_class`); the plain RDB storage, which Optuna wraps itself, where that
    cache is not there. `versioned`: the database tells when another connection wrote
    (SQLite's data_version)."""
    cache = _trial_cache_class()
    return backend if cache is None else cache(backend, versioned=versioned)


@functools.cache
def _trial_cache_class() -> type | None:
    """Optuna's cache of an RDB storage (what `optuna.load_study` wraps an RDB storage
    in), with fewer queries. The cache is Optuna's private class; without it the storage
    is returned as it is.

    - What a pruner asks for every epoch, one small query each: Optuna's cache reads a
      running trial's system attributes, and a study's id by its name, by a full read of
      the trial (seven queries) and a query. Hyperband asks for both at every report.
    - On SQLite, no read of what nobody else changed. Optuna's cache reads every unfinished
      trial again (seven queries) whenever a sampler, a pruner or the study looks at the
      trials: four times in an ask, with the new trial read once more (six), some 15 ms
      of a small trial's 100. This cache copies its own writes to a running trial's
      parameters, attributes and reports into its copy of the trial, reads a trial it
      finished back once (its end time is the database's), and reads the study again only
      when SQLite's `data_version` (which moves when any other connection commits: another
      worker, another sweep, a job) has moved since the last read, or after a change of
      state it did not make this way. A database that cannot tell is read as Optuna reads
      it.
    """
    try:
        from optuna.storages._cached_storage import _CachedStorage
    except ImportError:
        return None

    class TrialCache(_CachedStorage):
        def __init__(self, backend: Any, *, versioned: bool = False) -> None:
            super().__init__(backend)
            self._study_ids: dict[str, int] = {}
            self._versioned = versioned
            self._read_at: dict[int, tuple[Any, int]] = {}  # study -> version of last read
            self._changes = 0  # writes not copied into the cache so far

        @property
        def owner(self) -> dict[str, Any] | None:  # see OwningStorage
            return self._backend.owner

        @owner.setter
        def owner(self, value: dict[str, Any] | None) -> None:
            self._backend.owner = value

        # --- reads

        def _read_trials_from_remote_storage(self, study_id: int) -> None:
            if not self._versioned:
                super()._read_trials_from_remote_storage(study_id)
                return
            changes, version = self._changes, self._database_version()
            if self._read_at.get(study_id) == version:
                return
            super()._read_trials_from_remote_storage(study_id)
            if changes == self._changes:  # no uncopied write of this process meanwhile
                self._read_at[study_id] = version

        def _database_version(self) -> tuple[Any, int]:
            """(this connection, its data_version): equal twice only if no other
            connection committed in between."""
            with self._backend.engine.connect() as connection:
                token = connection.connection.info.setdefault(VERSION_TOKEN, object())
                return token, connection.exec_driver_sql("PRAGMA data_version").scalar()

        def _cached_copy(self, trial_id: int) -> Any:
            """The trial from the cache: a finished one as Optuna's cache keeps it, a
            running one copied if the database has not moved since it was read; None when
            the database has to be asked."""
            with self._lock:
                finished = self._get_cached_trial(trial_id)
            if finished is not None:
                return finished
            if not self._versioned or trial_id not in self._trial_id_to_study_id_and_number:
                return None
            study_id, number = self._trial_id_to_study_id_and_number[trial_id]
            if self._read_at.get(study_id) != self._database_version():
                return None
            with self._lock:
                trial = self._studies[study_id].trials.get(number)
                return None if trial is None else copy.deepcopy(trial)

        def get_trial(self, trial_id: int) -> Any:
            cached = self._cached_copy(trial_id)
            return cached if cached is not None else self._backend.get_trial(trial_id)

        def get_trial_system_attrs(self, trial_id: int) -> dict[str, Any]:
            cached = self._cached_copy(trial_id)
            if cached is not None:
                return cached.system_attrs
            return self._backend.get_trial_system_attrs(trial_id)

        def get_study_id_from_name(self, study_name: str) -> int:
            if study_name not in self._study_ids:
                self._study_ids[study_name] = self._backend.get_study_id_from_name(study_name)
            return self._study_ids[study_name]

        # --- writes: copied into the cached trial, or the next read goes to the database

        def create_new_trial(self, study_id: int, template_trial: Any = None) -> int:
            trial_id = super().create_new_trial(study_id, template_trial)
            with self._lock:
                self._studies[study_id].unfinished_trial_ids.add(trial_id)
            return trial_id

        def set_trial_param(
            self, trial_id: int, param_name: str, param_value_internal: float, distribution: Any
        ) -> None:
            super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
            value = distribution.to_external_repr(param_value_internal)
            self._copy_into(
                trial_id, params=(param_name, value), distributions=(param_name, distribution)
            )

        def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
            super().set_trial_user_attr(trial_id, key, value)
            self._copy_into(trial_id, user_attrs=(key, copy.deepcopy(value)))

        def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
            super().set_trial_system_attr(trial_id, key, value)
            self._copy_into(trial_id, system_attrs=(key, copy.deepcopy(value)))

        def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
            super().set_trial_intermediate_value(trial_id, step, value)
            self._copy_into(trial_id, intermediate_values=(step, value))

        def set_trial_state_values(self, trial_id: int, state: Any, values: Any = None) -> bool:
            where = self._trial_id_to_study_id_and_number.get(trial_id)
            read_at = None if where is None else self._read_at.get(where[0])
            changes = self._changes
            try:
                done = super().set_trial_state_values(trial_id, state, values)
            except BaseException:
                self._changed()
                raise
            if not (done and state.is_finished() and read_at and changes == self._changes):
                self._changed()
                return done
            # the finished trial as the database has it (its end time is the backend's),
            # which the tell reads back at once; the rest of the study stays current
            finished = self._backend.get_trial(trial_id)
            if self._database_version() != read_at:
                self._changed()
                return done
            with self._lock:
                self._studies[where[0]].trials[where[1]] = finished
            return done

        def delete_study(self, study_id: int) -> None:
            self._study_ids = {n: i for n, i in self._study_ids.items() if i != study_id}
            self._changed()
            super().delete_study(study_id)

        def _copy_into(self, trial_id: int, **entries: tuple[Any, Any]) -> None:
            """Each (key, value) of `entries` set in that dict attribute of a new copy of
            the cached running trial, which takes its place: a list of trials handed out
            before keeps the trial as it was (a pruner compares the trials it read before
            its own write), as with Optuna's storages."""
            with self._lock:
                where = self._trial_id_to_study_id_and_number.get(trial_id)
                trials = None if where is None else self._studies[where[0]].trials
                trial = None if trials is None else trials.get(where[1])
                if trial is None or trial.state.is_finished():
                    return
                trial = copy.copy(trial)
                for attribute, (key, value) in entries.items():
                    setattr(trial, attribute, {**getattr(trial, attribute), key: value})
                trials[where[1]] = trial

        def _changed(self) -> None:
            self._changes += 1
            self._read_at.clear()

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


def _new_sqlite_file(url: str) -> bool:
    from sqlalchemy.engine import make_url

    database = make_url(url).database
    return not database or database == ":memory:" or not Path(database).exists()


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
