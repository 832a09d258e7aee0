"""Run options and exit codes: plain data, importable without torch (the CLI parses fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_JOBS",
    "DEFAULT_TIMEOUT",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING_CHECKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "MAX_CASES",
    "MAX_MAX_NODES",
    "MAX_SECONDS",
    "MEMORY_LIMIT_VARIABLE",
    "PROFILES",
    "SUITE_NAMES",
    "WORKER_MEMORY_LIMIT_MB",
    "RunOptions",
    "worker_memory_limit_mb",
]

EXIT_OK = 0  # nothing failed (skip, unverified, xfail allowed)
EXIT_FAILED = 1  # a fail, an error or an xpass
EXIT_USAGE = 2  # bad options or input: a one-line message
EXIT_NOTHING_CHECKED = 3  # no case was checked
EXIT_INTERRUPTED = 130  # Ctrl-C: the rows so far are written

SUITE_NAMES = ("examples", "graphs", "edges", "semantics", "neurons", "training")
PROFILES = ("quick", "thorough")
DEFAULT_TIMEOUT = 30.0  # seconds per engine call
# Seconds for a whole run, after which the remaining cases are not run (`error` rows that say
# so). refimpl's thorough run (the 1,000,000-node chain) took 63 s on a shared 2-core machine;
# half an hour leaves room for engines and machines many times slower, and still ends a run that
# would otherwise go on for hours.
DEFAULT_BUDGET = 1800.0
# One checker by default: on the 2-core machine this was measured on, two checker processes
# were slower than one (README, Benchmarks); `--jobs N` is there for machines where they pay.
DEFAULT_JOBS = 1
# Upper bounds of the options, each a one-line usage error beyond. A day is longer than any run
# should take, and past ~1e9 s the waits overflow (`inf` hung the run).
MAX_SECONDS = 86400.0
# The graphs suite builds every case up front: a million cases take ~1 GB and hours already.
MAX_CASES = 1_000_000
# Random graphs of 100,000 nodes already take seconds each in a scalar engine and torch; the
# 1,000,000-node chain of the thorough profile covers depth beyond that.
MAX_MAX_NODES = 100_000
# Address space (RLIMIT_AS) of a worker running a Python engine, so that a leaking engine gives
# an error row (MemoryError) rather than taking the machine down. Measured: a refimpl worker maps
# 0.64 GB once torch is imported and peaks at 1.7 GB on the 1,000,000-node chain; a torch worker
# peaks at 3.7 GB there.
WORKER_MEMORY_LIMIT_MB = 8192
# The environment variable that sets it for every command (run, check, replay, grade), read in
# the worker itself: a number of MB, or 0 for no limit (an engine that truly needs more).
MEMORY_LIMIT_VARIABLE = "CONFORMANCE_WORKER_MEMORY_MB"


def worker_memory_limit_mb() -> int:
    """The workers' address-space limit in MB from the environment (0: none), else the default."""
    text = os.environ.get(MEMORY_LIMIT_VARIABLE, "").strip()
    return int(text) if text.isdigit() else WORKER_MEMORY_LIMIT_MB


@dataclass(frozen=True)
class RunOptions:
    """Everything a run depends on; the same options give the same CSV."""

    engine: str = "refimpl"
    suites: tuple[str, ...] = SUITE_NAMES
    cases: int = 2000
    seed: int = 0
    max_nodes: int = 30
    out: str = "reports"
    jobs: int = DEFAULT_JOBS
    timeout: float = DEFAULT_TIMEOUT
    only: tuple[str, ...] = ()
    profile: str = "quick"  # thorough: the 1,000,000-node chain and the like
    steps: int = 50  # SGD steps of each training case
    shard: tuple[int, int] | None = None  # (k, n): the k-th of n contiguous slices of the cases
    budget: float = DEFAULT_BUDGET  # seconds for the whole run (see `schedule`)
    # Every difference from torch gates, conventions included (`differs` rows become fail/error).
    strict: bool = False
