"""uvicorn for `ednax serve`: the run loaded, then the port bound, then requests served.

The run is loaded (and every artifact checked) before anything listens, so a bad RUN or a
refused pickle is the usage error `ednax predict` gives, and nothing ever answered on the
port. With `--workers N` uvicorn's supervisor spawns N processes that share the one bound
socket; each loads the run again (a process cannot inherit the model), the same way.

SIGTERM (or Ctrl-C) stops the server as uvicorn does: no new connections, requests in
flight answered, then the process exits 0. uvicorn raises the signal again once it has
shut down, for whatever handler was there before it; `_stopped_quietly` puts one there
that lets it go, so that a server stopped as asked does not die of the signal (143).
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ednax import memory
from ednax.errors import EdnaxError, RunError, UsageError
from ednax.serve.app import build_app
from ednax.serve.served import ServedRun

STOPS = (signal.SIGINT, signal.SIGTERM)


@dataclass(frozen=True)
class AppFactory:
    """What a spawned worker builds its app from (pickled across to it): the bundle
    folder the parent resolved, and the parent's choices."""

    bundle: str
    fold: str | None
    trust: bool
    max_body_bytes: int
    bundle_code: bool = False

    def __call__(self) -> Any:
        import logging
        import sys

        from uvicorn.config import STARTUP_FAILURE

        try:
            served = ServedRun.load(
                self.bundle, ".", self.fold, trust=self.trust, bundle_code=self.bundle_code
            )
        except EdnaxError as exc:  # changed since the parent checked it: stop, don't respawn
            logging.getLogger("uvicorn.error").error("cannot load the run: %s", exc.render())
            sys.exit(STARTUP_FAILURE)
        return build_app(served, self.max_body_bytes)


def listen(host: str, port: int) -> socket.socket:
    """The bound socket the server (or its workers) accept on; a usage error if the
    address cannot be had (in use, not this machine's)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP said, not left 0: asyncio then sets TCP_NODELAY on each connection. With
    # Nagle's algorithm on, a response written in two parts waits for the client's delayed
    # ACK: 40 ms a request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run_server(served: ServedRun, sock: socket.socket, *, workers: int, max_body_bytes: int) -> int:
    """Serve until stopped; 0 after a graceful stop."""
    import uvicorn

    memory.started()  # from here on, requests: what is alive now dies later

    host, port = sock.getsockname()[:2]
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "timeout_graceful_shutdown": None,  # requests in flight are answered, however long
        # An idle connection is kept longer than a proxy's usual 60 s, and than a client
        # stalled under load takes to send its next request: uvicorn's 5 s would close
        # connections that the other side is about to reuse (a failed request there).
        "timeout_keep_alive": 65,
    }
    if workers == 1:
        config = uvicorn.Config(build_app(served, max_body_bytes), **options)
        server = uvicorn.Server(config)
        with _stopped_quietly():
            server.run(sockets=[sock])
        if not server.started:
            raise RunError("the server did not start; its log above says why")
        return 0
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    loaded = served.loaded
    factory = AppFactory(
        str(loaded.path.resolve()), _fold(served), loaded.trust, max_body_bytes, loaded.bundle_code
    )
    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    supervisor = Multiprocess(config, sockets=[sock])  # handles SIGTERM: stops the workers
    supervisor.run()
    if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
        raise RunError("a worker could not start; its log above says why")
    return 0


def _fold(served: ServedRun) -> str | None:
    return served.predictor.prefix.rstrip("/") or None


@contextlib.contextmanager
def _stopped_quietly() -> Iterator[None]:
    """SIGINT and SIGTERM, raised again by uvicorn after its graceful shutdown, let go."""

    def stopped(signum: int, frame: Any) -> None:
        pass

    try:
        previous = {number: signal.signal(number, stopped) for number in STOPS}
    except ValueError:  # not the main thread: uvicorn leaves signals alone too
        yield
        return
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
