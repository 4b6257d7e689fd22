"""`ednax serve`: a finished run's predictions over HTTP (ednax.serve)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from ednax.cli.output import command, console, say
from ednax.cli.reuse_cmd import DEBUG, RUN, RUNS_DIR
from ednax.errors import UsageError


def register(app: typer.Typer) -> None:
    app.command("serve")(command(serve))


def serve(
    run: str = RUN,
    host: str = typer.Option("127.0.0.1", "--host", help="the address to listen on"),
    port: int = typer.Option(8000, "--port", help="the port to listen on (0: any free one)"),
    workers: int = typer.Option(
        1, "--workers", min=1, help="server processes, each with its own copy of the model"
    ),
    fold: str = typer.Option(None, "--fold", help="for a k-fold run: the fold's model to use"),
    trust: bool = typer.Option(
        False,
        "--trust",
        help="load the run's pickles even though this user's ednax did not sign them, as "
        "`ednax predict --trust` does: only for a bundle whose origin you know; see "
        "docs/security.md",
    ),
    bundle_code: bool = typer.Option(
        False,
        "--bundle-code",
        help="import the bundle's copy of its own plugin modules (code/) instead of today's",
    ),
    runs_dir: Path = RUNS_DIR,
    max_body_mb: float = typer.Option(
        16.0, "--max-body-mb", help="the largest request body taken, in MiB (413 beyond)"
    ),
    debug: bool = DEBUG,
) -> int:
    """Serve a run's predictions over HTTP: POST /v1/predict, MLflow's /invocations, /docs.

    The run is loaded and its artifacts checked first, as `ednax predict` does; the port is
    bound only then. SIGTERM or Ctrl-C finishes the requests in flight and exits 0.
    """
    if not max_body_mb > 0:
        raise UsageError(f"--max-body-mb must be more than 0, not {max_body_mb:g}")
    _installed("fastapi", "uvicorn")
    from ednax.serve.served import ServedRun
    from ednax.serve.server import listen, run_server, url_of

    served = ServedRun.load(run, runs_dir, fold, trust=trust, bundle_code=bundle_code)
    if served.is_image:
        _installed("python_multipart")  # image files come as multipart forms
    if served.loaded.trusted_warning:
        console(stderr=True).print(f"warning: {served.loaded.trusted_warning}", markup=False)
    sock = listen(host, port)
    url = url_of(sock)
    info = served.describe()
    say(f"serving run {info['id']} ({info['experiment']}) at {url} (docs: {url}/docs)")
    sys.stdout.flush()  # before uvicorn's log, when stdout is a pipe or a file
    return run_server(served, sock, workers=workers, max_body_bytes=int(max_body_mb * 2**20))


def _installed(*modules: str) -> None:
    """A usage error naming what to install, rather than an ImportError mid-way."""
    from importlib.util import find_spec

    missing = [m.replace("_", "-") for m in modules if find_spec(m) is None]
    if missing:
        raise UsageError(
            f"ednax serve needs {' and '.join(missing)}: pip install {' '.join(missing)}"
        )
