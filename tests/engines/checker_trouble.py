"""Engines that trouble a `--jobs N` checker process, not only the engine worker it starts.

Each behaves in the run's own engine worker and misbehaves in one started by a checker process
(a worker whose parent is a `multiprocessing` spawn), so the run loads them and the checkers
meet the trouble: one cannot load, the other kills its checker as the OOM killer would.
"""

from __future__ import annotations

import multiprocessing
import os

from tests.engines.alt import Value


def _in_checker() -> bool:
    """Whether this engine worker was started by a checker process rather than by the run: a
    checker is itself a multiprocessing process, named as such, where the run is MainProcess."""
    parent = multiprocessing.parent_process()
    return parent is not None and parent.name != "MainProcess"


class KillsItsChecker(Value):
    """exp SIGKILLs the checker process that runs it; elsewhere it is right."""

    def exp(self):
        if _in_checker():
            os.kill(os.getppid(), 9)
        return super().exp()


def __getattr__(name: str) -> type:  # PEP 562: the class exists only outside checkers
    if name == "LoadsOnlyInTheRun" and not _in_checker():
        return Value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r} here")
