"""Engines written as a micrograd-style scalar class: `V(x)`, operators, `.backward()`, `.grad`."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from conformance.core.result import EngineResult, as_number
from conformance.core.spec import GraphSpec
from conformance.core.vocabulary import OPS
from conformance.engines.errors import EngineLoadError

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


# Python's own words when a class lacks an operator form (no __rsub__, no __neg__, ...).
_NO_OPERATOR = ("unsupported operand type", "bad operand type")


def _lacks(op_name: str, leaf: Any, exc: BaseException) -> str | None:
    """Why `exc` means the class lacks the op, or None when the op exists and broke.

    Lacking it: no such method; Python's "unsupported operand type(s)" for an operator; or the
    engine declaring it (NotImplementedError, or an assert such as micrograd's "only supporting
    int/float powers"). Anything else raised by an op that exists is a broken op.
    """
    method = OPS[op_name].method
    if method and not callable(getattr(leaf, method, None)):
        return f"the class has no method {method}()"
    if isinstance(exc, TypeError) and any(w in str(exc) for w in _NO_OPERATOR):
        return f"TypeError: {exc}"
    if isinstance(exc, (NotImplementedError, AssertionError)):
        return f"the engine declares it: {type(exc).__name__}: {exc}".rstrip(": ")
    return None


class ScalarClassEngine:
    """Runs specs through a scalar class; ops the class lacks are skipped, broken ones run.

    Constants (graph constants, the upstream factor, a power's exponent) are given as plain
    numbers when the class accepts them, else wrapped in the class itself (`V(2.0)`): an engine
    whose binary ops need Values on both sides is checked on the same graphs, and the suite's
    glue never makes a row of its own.

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
        self._support: dict[tuple, tuple[str | None, str | None, bool]] = {}
        try:
            as_number(cls(0.5).data, "the leaf's .data")
        except Exception as exc:
            raise EngineLoadError(
                f"engine {name!r} cannot make a leaf: {name}(0.5) raised {type(exc).__name__}: "
                f"{exc}; it must accept a float and expose .data"
            ) from None
        self.wrap_constants = not self._takes_numbers()

    def _takes_numbers(self) -> bool:
        """Whether `V * 2.0` or `V + 2.0` works; if neither does but `V * V(2.0)` does, the class
        wants its own instances for constants."""
        for build in (lambda a, c: a * c, lambda a, c: a + c):
            try:
                with _time_limit(PROBE_SECONDS):
                    as_number(build(self.cls(0.7), 1.3).data, "")
                return True
            except (Exception, _ProbeTimeout):
                pass
        try:
            with _time_limit(PROBE_SECONDS):
                as_number((self.cls(0.7) * self.cls(1.3)).data, "")
        except (Exception, _ProbeTimeout):
            return True  # mul itself is broken: numbers, and the cases say what happens
        return False

    def constant(self, c: float) -> Any:
        """A constant in the form the engine accepts."""
        return self.cls(c) if self.wrap_constants else c

    def unsupported(self, op_name: str, pattern: str, param: float | None) -> str | None:
        """Why the class cannot build `op_name` with this leaf/constant pattern, or None."""
        return self._probed(op_name, pattern, param)[0]

    def broken(self, op_name: str, pattern: str, param: float | None) -> str | None:
        """What goes wrong when the class builds `op_name` (it exists but raises, or gives a
        non-number value or gradient), or None."""
        return self._probed(op_name, pattern, param)[1]

    def _probed(self, op_name: str, pattern: str, param: float | None) -> tuple:
        key = (op_name, pattern, param)
        if key not in self._support:
            self._support[key] = self._probe(op_name, pattern, param)
        return self._support[key]

    def _build(self, op_name: str, args: list, param: float | None, wrap_param: bool) -> Any:
        if wrap_param:  # x ** V(2.0): a class whose __pow__ wants its own instances
            return args[0] ** self.cls(param)
        return OPS[op_name].build(args, param)

    def _probe(self, op_name: str, pattern: str, param: float | None) -> tuple:
        """(why unsupported, why broken, wrap the parameter) for one op variant."""
        op = OPS[op_name]
        form = op.describe(list(pattern), param)
        first: tuple | None = None
        wraps = (False, True) if op_name == "powc" and self.wrap_constants else (False,)
        for wrap_param in wraps:
            stage = "building it"
            try:
                with _time_limit(PROBE_SECONDS):
                    leaves = [self.cls(x) if k == "v" else None for k, x in
                              zip(pattern, probe_inputs(pattern))]  # fmt: skip
                    args = [
                        leaf if leaf is not None else self.constant(x)
                        for leaf, x in zip(leaves, probe_inputs(pattern))
                    ]
                    out = self._build(op_name, args, param, wrap_param)
                    stage = "its value"
                    as_number(out.data, "its .data")
                    stage = "backward()"
                    out.backward()
                    stage = "the gradients"
                    for leaf in leaves:
                        if leaf is not None and getattr(leaf, "grad", None) is not None:
                            as_number(leaf.grad, "the leaf's .grad")
                return None, None, wrap_param
            except _ProbeTimeout:
                return None, None, wrap_param  # it hangs: the cases will show the timeouts
            except Exception as exc:
                if first is None:
                    why = _lacks(op_name, self.cls(0.7), exc) if stage == "building it" else None
                    text = f"{type(exc).__name__}: {exc}"
                    first = (
                        (f"{form} not supported: {why}", None, False)
                        if why
                        else (None, f"{form} exists but {stage} raised {text[:200]}", False)
                    )
        return first

    def run(self, spec: GraphSpec) -> EngineResult:
        """Build the graph with the class, backward from upstream * output, read every number."""
        wrap_param = []
        for node in spec.nodes:
            pattern = "".join("c" if a[0] == "c" else "v" for a in node.args)
            why, _, wrap = self._probed(node.op, pattern, node.param)
            if why:
                return EngineResult(skip=why)
            wrap_param.append(wrap)
        consts = [self.constant(c) for c in spec.consts]
        leaves = [self.cls(x) for x in spec.leaves]
        wraps = iter(wrap_param)
        build = self._build
        nodes = spec.walk(
            leaves, lambda node, args: build(node.op, args, node.param, next(wraps)), consts
        )
        output = spec.resolve(spec.output, leaves, nodes, consts)
        # Scaled by the engine's own multiplication: only where needed, so that upstream-1 cases
        # (examples, edges) do not depend on mul.
        scaled = output if spec.upstream == 1.0 else output * self.constant(spec.upstream)
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
