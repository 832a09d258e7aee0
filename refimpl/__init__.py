"""refimpl: a hand-written reverse-mode autodiff engine over scalars, to read and check against."""

from refimpl.engine import Value, grad, topological_order

__all__ = ["Value", "grad", "topological_order"]
__version__ = "0.1.0"
