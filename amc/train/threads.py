"""CPU threads for training: how many, and how idle ones wait.

On a shared machine, OpenMP's default of spinning idle threads for a while before sleeping makes a
2-thread step wait on a thread that another process has descheduled: measured here, a width-32 a4
step at 2 threads ran at 161 frames/s with the default policy and 517 with passive waiting, while
another job held one of the two cores (`benchmarks/bench_train.py` measures it in one run). The
policy is read when torch loads OpenMP, so `passive_wait()` must run before `import torch`; the CLI
calls it first thing in `amc train` and `amc quickstart`. (The CLI's entry point also lets glibc keep
freed heap memory, `amc.cli.tune_malloc`: the step's multi-MB activations are otherwise mmap'ed and
page-faulted in again, 23,000 -> 4,000 minor faults and 4-6 % of the step time at width 64.)
"""

from __future__ import annotations

import os
import sys


def passive_wait() -> bool:
    """Ask OpenMP to put idle threads to sleep (unless the user set a policy). False when torch is
    already loaded, which makes it too late to take effect in this process."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return "torch" not in sys.modules


def configure(threads: int) -> int:
    """Use `threads` torch threads (0: the cores shared among torchrun's local processes); returns the
    count used."""
    import torch

    local = max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    n = threads if threads > 0 else max(1, (os.cpu_count() or 1) // local)
    torch.set_num_threads(n)
    return n
