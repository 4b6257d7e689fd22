"""Who wrote a pickle: an HMAC-SHA256 with a per-user secret kept outside the runs folder.

A pickle runs code when it is loaded, and anyone who can write a bundle (a shared runs
folder, a bundle copied from a colleague) can also rewrite the sha256 run.json records
beside it. So every artifact a bundle records, and every preprocessing cache entry, is
also signed with this user's secret, and ednax unpickles only what verifies with it (or
what the user trusts deliberately: `ednax predict --trust`). See docs/security.md.

The secret is 32 random bytes in `~/.config/ednax/secret` (`$XDG_CONFIG_HOME/ednax/secret`
when that is set), or in the file `$EDNAX_SECRET_FILE` names (one file every node of a
cluster reads). It is created on first use, mode 0600, by writing a temporary file and
linking it into place: of two processes creating it at once, one links and the other
reads the secret the first one wrote.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
import threading
import time
from pathlib import Path

from ednax.errors import UsageError

SECRET_ENV = "EDNAX_SECRET_FILE"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 16

NOT_SIGNED = "not signed by this user's ednax: written by someone else, or with another secret"
UNSIGNED = (
    "not signed by this user's ednax: run.json records no signature for it (a bundle "
    "written by an ednax older than signed artifacts, or not by ednax at all)"
)

_VERSION = b"ednax-hmac-v1"
_CHUNK = 1 << 20
_LOCK = threading.Lock()
_SECRETS: dict[Path, bytes] = {}


def secret_path() -> Path:
    """Where this user's secret is: $EDNAX_SECRET_FILE, else the user's config folder."""
    chosen = os.environ.get(SECRET_ENV)
    if chosen:
        return Path(chosen).expanduser()
    config_home = os.environ.get("XDG_CONFIG_HOME")
    base = Path(config_home).expanduser() if config_home else Path.home() / ".config"
    return base / "ednax" / "secret"


def secret() -> bytes:
    """This user's secret, read once per process (created on first use)."""
    path = secret_path()
    with _LOCK:
        if path not in _SECRETS:
            _SECRETS[path] = _read_or_create(path)
        return _SECRETS[path]


class Signer:
    """HMAC-SHA256 with this user's secret, of one kind of thing (`purpose`), so that a
    signature made for one use is never valid for another."""

    def __init__(self, purpose: str, key: bytes | None = None):
        self._key = secret() if key is None else key
        self._purpose = purpose.encode("utf-8")

    def new(self) -> hmac.HMAC:
        mac = hmac.new(self._key, digestmod=hashlib.sha256)
        mac.update(_VERSION + b"\0" + self._purpose + b"\0")
        return mac

    def sign(self, *parts: bytes) -> str:
        """The signature of `parts`, each framed by its length (no two lists collide)."""
        mac = self.new()
        for part in parts:
            mac.update(len(part).to_bytes(8, "big"))
            mac.update(part)
        return mac.hexdigest()


ARTIFACT = "artifact"


def artifact_digests(path: str | os.PathLike[str]) -> tuple[str, str]:
    """(sha256, hmac) of a bundle's artifact file, read once."""
    sha = hashlib.sha256()
    mac = Signer(ARTIFACT).new()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha.update(chunk)
            mac.update(chunk)
    return sha.hexdigest(), mac.hexdigest()


def artifact_signed(data: bytes, signature: object) -> bool:
    """Whether `data` (an artifact's bytes) carries this user's `signature`."""
    if not isinstance(signature, str):
        return False
    mac = Signer(ARTIFACT).new()
    mac.update(data)
    return hmac.compare_digest(signature, mac.hexdigest())


def signer_id() -> str:
    """A short, public name of this user's secret (it reveals nothing of it): what keeps
    users who share a runs folder from reading, or overwriting, each other's cache."""
    return Signer("signer").sign()[:16]


def _read_or_create(path: Path) -> bytes:
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise UsageError(_cannot(path, f"cannot read it: {exc.strerror or exc}")) from exc
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        _create(path)
    except FileExistsError:
        pass  # another process made it first: its secret is the one
    except OSError as exc:
        raise UsageError(_cannot(path, f"cannot create it: {exc.strerror or exc}")) from exc
    try:
        return _read(path)
    except OSError as exc:
        raise UsageError(_cannot(path, f"cannot read it: {exc.strerror or exc}")) from exc


def _create(path: Path) -> None:
    """Link a complete temporary file into place (never a half-written secret); where the
    file system has no hard links, create the file itself exclusively."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    _write_new(temp, secrets.token_bytes(SECRET_BYTES))
    try:
        os.link(temp, path)
    except FileExistsError:
        raise
    except OSError:
        _write_new(path, secrets.token_bytes(SECRET_BYTES))
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def _write_new(path: Path, data: bytes) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _read(path: Path) -> bytes:
    # A file created without hard links may be seen before its bytes are: wait a little.
    for _ in range(50):
        data = path.read_bytes()
        if len(data) >= MIN_SECRET_BYTES:
            _check_mode(path)
            return data
        time.sleep(0.02)
    raise UsageError(
        _cannot(path, f"it holds {len(data)} bytes; a secret needs {MIN_SECRET_BYTES} or more")
        + "\n    remove it to have ednax make a new one (bundles it signed will need --trust)"
    )


def _check_mode(path: Path) -> None:
    if os.name != "posix":
        return
    mode = os.stat(path).st_mode
    if mode & (stat.S_IROTH | stat.S_IWOTH | stat.S_IWGRP):
        raise UsageError(
            _cannot(path, f"other users can read or change it (mode {stat.filemode(mode)})")
            + f"\n    make it private: chmod 600 {path}"
        )


def _cannot(path: Path, why: str) -> str:
    return (
        f"ednax's secret {path} (which signs the pickles ednax writes) is not usable: {why}; "
        f"set {SECRET_ENV} to a private file of yours to use another"
    )


def forget() -> None:
    """Drop the secrets read so far (for tests that change $EDNAX_SECRET_FILE)."""
    with _LOCK:
        _SECRETS.clear()
