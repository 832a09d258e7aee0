"""Correct tensor engines written differently from refimpl.tensor: einsum, explicit loops,
torch's names (with a CONFORMANCE_TENSORS table), and other summation orders. Each module has its
own `Tensor`; where they differ from torch only by rounding, the suite must not call them wrong."""
