"""Run options and exit codes: plain data, importable without torch (the CLI parses fast)."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "ALL_SUITES",
    "DEFAULT_BUDGET",
    "DEFAULT_JOBS",
    "DEFAULT_RUN_JOBS",
    "DEFAULT_STEPS",
    "DEFAULT_TIMEOUT",
    "DTYPE_SUITES",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NOTHING_CHECKED",
    "EXIT_OK",
    "EXIT_USAGE",
    "LAYER_SUITES",
    "MAX_CASES",
    "MAX_MAX_NODES",
    "MAX_SECONDS",
    "MEMORY_LIMIT_VARIABLE",
    "PROFILES",
    "SUITE_NAMES",
    "TENSOR_SUITES",
    "WORKER_MEMORY_LIMIT_MB",
    "RunOptions",
    "all_cores",
    "worker_memory_limit_mb",
]

EXIT_OK = 0  # nothing failed (skip, unverified, xfail allowed)
EXIT_FAILED = 1  # a fail, an error or an xpass
EXIT_USAGE = 2  # bad options or input: a one-line message
EXIT_NOTHING_CHECKED = 3  # no case was checked
EXIT_INTERRUPTED = 130  # Ctrl-C: the rows so far are written

# The suites, in the order they run: the one list of their names (cases/suites.py builds each).
SUITE_NAMES = ("examples", "graphs", "edges", "semantics", "neurons", "training")
# The suites of layer-function engines (`--engine layers:...`), which the scalar suites are not.
LAYER_SUITES = ("layers",)
# The suites of tensor autograd engines (`--engine tensors:...`).
TENSOR_SUITES = ("tensors",)
# The suites a dtype other than float64 checks so far (the others need versions in its range).
DTYPE_SUITES = ("graphs", "edges")
ALL_SUITES = SUITE_NAMES + LAYER_SUITES + TENSOR_SUITES
DEFAULT_STEPS = 50  # SGD steps of each training case
PROFILES = ("quick", "thorough")
DEFAULT_TIMEOUT = 30.0  # seconds per engine call
# Seconds for a whole run, after which the remaining cases are not run (`error` rows that say
# so). refimpl's thorough run (the 1,000,000-node chain) took 63 s on a shared 2-core machine;
# half an hour leaves room for engines and machines many times slower, and still ends a run that
# would otherwise go on for hours.
DEFAULT_BUDGET = 1800.0
# A run's RunOptions.jobs, and grade's --jobs (engines at once), unless given.
DEFAULT_JOBS = 1


def all_cores() -> int:
    """The cores this process may run on (its affinity, which a container or taskset narrows),
    else the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


# `run --jobs`: a checker process per core. On the 2-core machine measured (README, Benchmarks)
# two beat one by 1.51-1.74x on 20,000 cases; a run too small to share stays in one process.
DEFAULT_RUN_JOBS = all_cores()
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
    steps: int = DEFAULT_STEPS  # SGD steps of each training case
    shard: tuple[int, int] | None = None  # (k, n): the k-th of n contiguous slices of the cases
    budget: float = DEFAULT_BUDGET  # seconds for the whole run (see `schedule`)
    # Every difference from torch gates, conventions included (`differs` rows become fail/error).
    strict: bool = False
    # The precision the engine computes in (`core.dtypes`): its inputs and tolerances.
    dtype: str = "float64"

    def to_dict(self) -> dict[str, Any]:
        """Every option as plain JSON data (run.json's "options"); `from_dict` reads it back."""
        return {
            "suites": list(self.suites),
            "cases": self.cases,
            "seed": self.seed,
            "max_nodes": self.max_nodes,
            "jobs": self.jobs,
            "timeout": self.timeout,
            "budget": self.budget,
            "only": list(self.only),
            "profile": self.profile,
            "steps": self.steps,
            "shard": list(self.shard) if self.shard else None,
            "engine": self.engine,
            "strict": self.strict,
            "dtype": self.dtype,
            "out": self.out,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunOptions:
        """The options `to_dict` wrote; one an older run.json lacks takes its default. ValueError
        (one line, naming the option) for a value of the wrong type; other keys are ignored."""
        if not isinstance(data, dict):
            raise ValueError(f"options is {data!r:.60}, not an object")
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                continue
            value, kind = data[f.name], _KINDS[f.name]
            if f.name == "shard":
                if value is not None and not (
                    isinstance(value, list) and len(value) == 2 and all(map(_is_int, value))
                ):
                    raise ValueError(f"options.shard {value!r:.40} is not K/N")
                values[f.name] = None if value is None else tuple(value)
            elif kind is list:
                if not (isinstance(value, list) and all(isinstance(x, str) for x in value)):
                    raise ValueError(f"options.{f.name} is {value!r:.60}, not a list")
                values[f.name] = tuple(value)
            elif kind is int and not _is_int(value):
                raise ValueError(f"options.{f.name} is {value!r:.60}, not a int")
            elif kind is float:
                if not (_is_int(value) or isinstance(value, float)):
                    raise ValueError(f"options.{f.name} is {value!r:.60}, not a float")
                values[f.name] = float(value)
            elif kind in (str, bool) and not isinstance(value, kind):
                raise ValueError(f"options.{f.name} is {value!r:.60}, not a {kind.__name__}")
            values.setdefault(f.name, value)
        return cls(**values)


# Each option's JSON type, for `from_dict`.
_KINDS: dict[str, type] = {
    "engine": str, "suites": list, "cases": int, "seed": int, "max_nodes": int, "out": str,
    "jobs": int, "timeout": float, "only": list, "profile": str, "steps": int, "shard": list,
    "budget": float, "strict": bool, "dtype": str,
}  # fmt: skip


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)
