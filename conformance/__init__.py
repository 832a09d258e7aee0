"""Check hand-written backpropagation against torch.autograd, with evidence."""

__version__ = "0.1.0"
