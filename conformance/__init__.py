"""Check hand-written backpropagation against torch.autograd, with evidence.

`from conformance import check_engine` is the Python API (see `conformance.api`); it is imported
on first use, so the command line starts without loading torch.
"""

__version__ = "0.1.0"
__all__ = ["CheckResult", "check_engine"]


def __getattr__(name: str):  # PEP 562: lazy, torch loads only when the API is used
    if name in __all__:
        from conformance import api

        return getattr(api, name)
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
