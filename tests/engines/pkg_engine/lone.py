"""A lone engine file (its folder is no package) with a bug, importing a package beside it.

exp's backward forgets the gradient from above: `--engine tests/engines/pkg_engine/lone.py:
ExpForgetsUpstream` must fail on exp, and its reproducer script must run from any folder.
"""

from __future__ import annotations

import math

from mypkg.engine import Value


class ExpForgetsUpstream(Value):
    """d exp(x)/dx = exp(x), not multiplied by the gradient from above."""

    def exp(self) -> Value:
        out = type(self)(math.exp(self.data), (self,))

        def back() -> None:
            self.grad += out.data

        out._backward = back
        return out
