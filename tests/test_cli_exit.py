"""The command's way out (ednax.cli.exit): it skips the interpreter's finalization, but
the exit status, every byte of output and the atexit handlers are as a plain exit's, and
a thread still working is waited for."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_status_output_and_atexit_handlers_survive_the_fast_exit():
    proc = run_python(
        "import atexit, sys\n"
        "from ednax.cli.exit import leave\n"
        "atexit.register(lambda: print('handler ran', file=sys.stderr))\n"
        "sys.stdout.write('x' * 200_000)\n"  # more than a pipe's buffer
        "leave(3)\n"
        "print('not reached')\n"
    )
    assert proc.returncode == 3
    assert proc.stdout == "x" * 200_000
    assert "handler ran" in proc.stderr


def test_a_message_exits_1_on_stderr():
    proc = run_python("from ednax.cli.exit import leave\nleave('stopped: disk full')\n")
    assert proc.returncode == 1
    assert proc.stderr.strip() == "stopped: disk full"


def test_a_thread_still_working_is_waited_for():
    proc = run_python(
        "import threading, time\n"
        "from ednax.cli.exit import leave\n"
        "def work():\n"
        "    time.sleep(0.3)\n"
        "    print('thread finished', flush=True)\n"
        "threading.Thread(target=work).start()\n"
        "leave(0)\n"
    )
    assert proc.returncode == 0
    assert proc.stdout == "thread finished\n"


def test_the_command_exits_with_its_status(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ednax", "validate", str(tmp_path / "missing.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "config file not found" in proc.stderr


def test_a_profiler_still_writes_its_results(tmp_path):
    out = tmp_path / "profile.out"
    proc = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "ednax", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert out.stat().st_size > 0
