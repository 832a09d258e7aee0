"""Run options and exit codes: plain data, importable without torch (the CLI parses fast)."""

from __future__ import annotations

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
    "PROFILES",
    "SUITE_NAMES",
    "RunOptions",
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
