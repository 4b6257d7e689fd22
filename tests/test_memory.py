"""The garbage collector through a command's life (ednax.memory): what a sweep job leaves
in reference cycles is freed before the next job, and only start-up's survivors are
frozen. Each case runs in a fresh interpreter: freezing is for a process's whole life."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_a_jobs_objects_in_reference_cycles_are_freed_before_the_next_job():
    run_python(
        """
        import gc, weakref
        from ednax import memory

        class Part:
            pass

        def job():  # a model and its trainer pointing at each other, as Lightning's do
            model, trainer = Part(), Part()
            model.trainer, trainer.model = trainer, model
            model.weights = bytearray(10_000_000)
            gc.collect()  # alive through the job's collections: old by the time it ends
            return weakref.ref(model)

        first = job()
        assert first() is not None  # the young collections never reach it
        memory.after_job()
        assert first() is None
        second = job()
        memory.after_job()  # after a freeze of the long-lived: the job's objects still go
        assert second() is None and gc.get_freeze_count() > 0
        """
    )


def test_survivors_are_frozen_while_starting_and_not_after():
    run_python(
        """
        import gc
        from ednax import memory

        memory.freeze_while_starting()
        imported = [[] for _ in range(1000)]  # what imports make, kept
        gc.collect()
        frozen = gc.get_freeze_count()
        assert frozen >= 1000
        memory.started()
        working = [[] for _ in range(1000)]  # what the work makes, to die later
        gc.collect()
        assert gc.get_freeze_count() == frozen
        """
    )


def test_a_process_whose_work_has_begun_never_freezes_again():
    # a sweep's process runs job after job: entering the next job must not freeze what
    # the last one left (it would never be freed)
    run_python(
        """
        import gc
        from ednax import memory

        memory.freeze_while_starting()
        memory.after_job()  # the first job ended
        frozen = gc.get_freeze_count()
        memory.freeze_while_starting()  # the next job begins
        leftovers = [[] for _ in range(1000)]
        gc.collect()
        assert gc.get_freeze_count() == frozen
        """
    )
