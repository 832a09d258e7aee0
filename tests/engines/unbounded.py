"""Engines that reach outside their case: they write to file descriptor 1, leak memory or hang
after saying where they run. The suite must keep its output, its memory and its processes.

Each is alt.Value with one method broken. Those that write a pid file read its path from the
environment variable PID_FILE, which the test sets and the worker inherits.
"""

from __future__ import annotations

import mmap
import os
import time

from tests.engines.alt import Value


class WritesToFd1(Value):
    """exp writes past sys.stdout, to file descriptor 1, as C code or a stray os.write would."""

    def exp(self):
        os.write(1, b"garbage from the engine\n")
        return super().exp()


class MapsTwelveGigabytes(Value):
    """exp maps 12 GB of address space, as a leak at full speed soon would. Mapped, not written:
    without a limit the test machine lends it without using the memory."""

    def exp(self):
        with mmap.mmap(-1, 12 * 2**30):
            return super().exp()


class HangsInExpWithPidFile(Value):
    """exp writes the worker's pid to $PID_FILE, then never returns."""

    def exp(self):
        with open(os.environ["PID_FILE"], "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(3600)
