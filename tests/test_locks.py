"""One process per bundle: the lock names its holder, and a dead holder releases it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ednax.runs.lock import BundleBusy, bundle_lock


def test_a_held_bundle_is_refused_naming_the_holder(tmp_path):
    busy = rf"held by another process \(pid {os.getpid()} on "
    with bundle_lock(tmp_path), pytest.raises(BundleBusy, match=busy), bundle_lock(tmp_path):
        pass
    with bundle_lock(tmp_path):  # released when the holder is done
        pass


def test_a_killed_holder_releases_the_bundle(tmp_path):
    code = (
        "import os, sys, time; from pathlib import Path; from ednax.runs.lock import bundle_lock\n"
        "with bundle_lock(Path(sys.argv[1])):\n"
        "    print('held', flush=True); time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BundleBusy, match=f"pid {holder.pid} "), bundle_lock(tmp_path):
            pass
        holder.kill()
        holder.wait(timeout=30)
        with bundle_lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
