"""Output to a reader that went away (`run ... | head`): the rest is dropped, not a traceback,
and the command's exit code stays the run's."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

__all__ = ["reader_may_leave"]


@contextlib.contextmanager
def reader_may_leave() -> Iterator[None]:
    """Printing inside: if stdout's reader has closed the pipe, stdout becomes /dev/null."""
    try:
        yield
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit must not fail either
        os.close(devnull)
