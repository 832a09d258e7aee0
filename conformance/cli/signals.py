"""SIGINT and SIGTERM during a run: stop at once where that is safe, else once files are whole."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

from conformance.core.options import EXIT_INTERRUPTED

__all__ = ["SIGNALS", "Signals", "late"]


class Signals:
    """SIGINT and SIGTERM: the first stops the run (KeyboardInterrupt) where it may stop at
    once; elsewhere it is noted, and the run stops once its files are a consistent set."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget earlier signals: raise at once, as while the program starts."""
        self.received: int | None = None
        self.deferring = 0
        self.raise_now = False

    def handle(self, signum: int, frame: object) -> None:
        """The handler: note the signal; raise when stopping now is safe."""
        first = self.received is None
        self.received = signum
        # A second signal never raises: the run is already on its way out, writing the rows.
        if first and (self.raise_now or not self.deferring):
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals are noted, not raised, inside (files being prepared or written)."""
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        """Signals raise inside, even within `deferred` (the cases being run)."""
        if self.received is not None:
            raise KeyboardInterrupt  # noted before: stop before anything runs
        self.raise_now = True
        try:
            yield
        finally:
            self.raise_now = False


SIGNALS = Signals()


def late(signum: int, frame: object) -> None:
    """After `main` has returned: the reports are written, so end now, interrupted."""
    sys.stderr.write("conformance: interrupted\n")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(EXIT_INTERRUPTED)
