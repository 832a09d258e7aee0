"""Engines that misbehave: they raise, hang, kill their process or return garbage.

Each is alt.Value with one method broken; the suite must turn each into `error` rows and go on.
"""

from __future__ import annotations

import os
import signal
import time

from tests.engines.alt import Value


class RaisesInTanh(Value):
    """tanh raises, as an unfinished engine might."""

    def tanh(self):
        raise RuntimeError("tanh is not implemented yet")


class HangsInExp(Value):
    """exp never returns."""

    def exp(self):
        time.sleep(3600)


class DiesInLog(Value):
    """log ends the whole process, as a crash in a C extension would."""

    def log(self):
        os._exit(7)


class GarbageGrad(Value):
    """sigmoid's input receives a string for a gradient."""

    def sigmoid(self):
        out = super().sigmoid()

        def back(g):
            self.grad = "oops"

        out._backward = back
        return out


class BrokenOnImport:
    """Not an engine: a class whose construction fails for every value."""

    def __init__(self, x):
        raise TypeError("cannot build a leaf")


class HostileText(Value):
    """exp raises with a lone surrogate, a NUL and a terminal escape in its message."""

    def exp(self):
        raise RuntimeError("bad \ud800 byte \x00 then \x1b[31mred")


class FormulaText(Value):
    """exp raises with a message that a spreadsheet would run as a formula."""

    def exp(self):
        raise RuntimeError('=HYPERLINK("http://example.invalid","click")')


class ExitsInTanh(Value):
    """tanh ends the process with exit code 3, as `sys.exit` deep in a student's code might."""

    def tanh(self):
        os._exit(3)


class KilledInTanh(Value):
    """tanh gets the process killed by a signal, as the out-of-memory killer would."""

    def tanh(self):
        os.kill(os.getpid(), signal.SIGKILL)


class HangsInExpOnceRunning(HangsInExp):
    """HangsInExp, except in the capability probe: the probe stops a hanging op after 2 s and
    counts it supported, so the rows are the same, 2 s sooner. For the tests that need a run
    held at seed-exp (signals, the lock); HangsInExp itself covers the probe that hangs."""

    def exp(self):
        if signal.getitimer(signal.ITIMER_REAL)[0] > 0:  # the probe's time limit is running
            return Value.exp(self)
        return super().exp()
