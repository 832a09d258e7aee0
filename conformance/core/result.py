"""What an engine hands back for one spec: plain data that crosses a process boundary."""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass

__all__ = ["EngineResult", "as_number"]


@dataclass(frozen=True)
class EngineResult:
    """The output value and leaf gradients, intermediates where exposed, or why there are none.

    `grads[i]` is d(upstream * output)/d(leaf i). `node_values` / `node_grads` hold the value and
    gradient of every op node, None where the engine does not expose them. `error` is set when the
    engine raised, died, timed out or returned garbage; `skip` when it cannot express the case.
    `stepped` holds the `spec.step` parameters after the engine's own optimizer stepped them,
    None where the engine has no optimizer (or no step was asked for).
    """

    value: float | None = None
    grads: tuple[float | None, ...] = ()
    node_values: tuple[float | None, ...] | None = None
    node_grads: tuple[float | None, ...] | None = None
    error: str | None = None
    skip: str | None = None
    stepped: tuple[float, ...] | None = None

    def to_dict(self) -> dict:
        """Plain data (lists, floats, strings)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> EngineResult:
        """Read back what `to_dict` wrote."""
        return cls(
            value=d.get("value"),
            grads=tuple(d.get("grads") or ()),
            node_values=None if d.get("node_values") is None else tuple(d["node_values"]),
            node_grads=None if d.get("node_grads") is None else tuple(d["node_grads"]),
            error=d.get("error"),
            skip=d.get("skip"),
            stepped=None if d.get("stepped") is None else tuple(d["stepped"]),
        )


def as_number(x: object, what: str) -> float:
    """`x` as a float, or a TypeError naming `what` when it is not a real number."""
    if isinstance(x, numbers.Real) and not isinstance(x, bool):
        return float(x)
    item = getattr(x, "item", None)  # torch 0-d tensors, numpy scalars
    if callable(item):
        try:
            y = item()
        except Exception:
            y = None
        if isinstance(y, numbers.Real) and not isinstance(y, bool):
            return float(y)
    raise TypeError(f"{what} is {type(x).__name__} {x!r:.60}, not a number")
