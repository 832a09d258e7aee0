"""Engines written as a micrograd-style scalar class: `V(x)`, operators, `.backward()`, `.grad`."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from conformance.engines.errors import EngineLoadError
from conformance.engines.result import EngineResult, as_number
from conformance.spec import GraphSpec
from conformance.vocabulary import OPS

__all__ = ["ScalarClassEngine", "probe_inputs"]

# Benign inputs for probing whether a class supports an op (inside every op's domain).
_PROBE = (0.7, 1.3, 0.4)


PROBE_SECONDS = 2.0


class _ProbeTimeout(BaseException):
    """A probe ran out of time (BaseException: an engine's `except Exception` cannot eat it)."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt the block after `seconds` (main thread, POSIX); elsewhere, no limit."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise _ProbeTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def probe_inputs(pattern: str) -> list[float]:
    """Inputs for the probe of one leaf/constant pattern."""
    return list(_PROBE[: len(pattern)])


class ScalarClassEngine:
    """Runs specs through a scalar class; ops the class lacks are skipped, not failed.

    `sgd_step(params, lr)`, given here or found on the class as `cls.sgd_step`, is the engine's
    own optimizer: it updates the parameters' `.data` from their `.grad` when a spec asks for a
    step. Without one the result has no `stepped`, and the suite applies w ← w − lr·g itself.
    """

    def __init__(
        self,
        cls: Callable[[float], Any],
        name: str,
        sgd_step: Callable[[list, float], None] | None = None,
    ) -> None:
        self.cls = cls
        self.name = name
        self.sgd_step = sgd_step or getattr(cls, "sgd_step", None)
        self._support: dict[tuple, str | None] = {}
        try:
            as_number(cls(0.5).data, "the leaf's .data")
        except Exception as exc:
            raise EngineLoadError(
                f"engine {name!r} cannot make a leaf: {name}(0.5) raised {type(exc).__name__}: "
                f"{exc}; it must accept a float and expose .data"
            ) from None

    def unsupported(self, op_name: str, pattern: str, param: float | None) -> str | None:
        """Why the class cannot build `op_name` with this leaf/constant pattern, or None."""
        key = (op_name, pattern, param)
        if key not in self._support:
            self._support[key] = self._probe(op_name, pattern, param)
        return self._support[key]

    def _probe(self, op_name: str, pattern: str, param: float | None) -> str | None:
        op = OPS[op_name]
        try:
            with _time_limit(PROBE_SECONDS):
                args = [
                    self.cls(x) if k == "v" else x for k, x in zip(pattern, probe_inputs(pattern))
                ]
                out = op.build(args, param)
                as_number(out.data, "probe output")
        except (AttributeError, TypeError, AssertionError, NotImplementedError) as exc:
            return f"{op.describe(list(pattern), param)} not supported: {type(exc).__name__}: {exc}"
        except (Exception, _ProbeTimeout):
            # It exists but fails or hangs: not a missing op. The cases that use it run, and
            # say what happens (an error row, a timeout).
            return None
        return None

    def run(self, spec: GraphSpec) -> EngineResult:
        """Build the graph with the class, backward from upstream * output, read every number."""
        for node in spec.nodes:
            pattern = "".join("c" if a[0] == "c" else "v" for a in node.args)
            why = self.unsupported(node.op, pattern, node.param)
            if why:
                return EngineResult(skip=why)
        env: dict[str, Any] = {f"c{i}": c for i, c in enumerate(spec.consts)}
        leaves = [self.cls(x) for x in spec.leaves]
        env.update((f"x{i}", leaf) for i, leaf in enumerate(leaves))
        nodes = []
        for i, node in enumerate(spec.nodes):
            out = OPS[node.op].build([env[a] for a in node.args], node.param)
            env[f"n{i}"] = out
            nodes.append(out)
        output = env[spec.output]
        # Scaled by the engine's own multiplication: only where needed, so that upstream-1 cases
        # (examples, edges) do not depend on mul.
        scaled = output if spec.upstream == 1.0 else output * spec.upstream
        for call in range(spec.backwards):
            if call and spec.zero_between:
                for leaf in leaves:  # what an optimizer's zero_grad() does to the parameters
                    leaf.grad = 0.0
            scaled.backward()
        result = EngineResult(
            value=as_number(output.data, "the output's .data"),
            grads=tuple(_leaf_grad(leaf, spec.leaf_name(i)) for i, leaf in enumerate(leaves)),
            node_values=tuple(as_number(n.data, f"n{i}.data") for i, n in enumerate(nodes)),
            node_grads=tuple(_maybe_number(n, i) for i, n in enumerate(nodes)),
        )
        if spec.step is None or self.sgd_step is None:
            return result
        params = [leaves[i] for i in spec.step.params]
        self.sgd_step(params, spec.step.lr)
        names = [spec.leaf_name(i) for i in spec.step.params]
        stepped = tuple(as_number(p.data, f"{n} after the step") for n, p in zip(names, params))
        return replace(result, stepped=stepped)


def _leaf_grad(leaf: Any, name: str) -> float | None:
    # None is how some engines say "no gradient reached this leaf"; the comparison reads it as 0.
    g = getattr(leaf, "grad", None)
    return None if g is None else as_number(g, f"{name}.grad")


def _maybe_number(node: Any, i: int) -> float | None:
    g = getattr(node, "grad", None)
    return None if g is None else as_number(g, f"n{i}.grad")
