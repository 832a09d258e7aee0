"""Check hand-written backpropagation against torch.autograd, with evidence.

What is public (and kept stable):
- the command line, `python -m conformance` (`conformance.cli`);
- `from conformance import check_engine, CheckResult, run_spec, torch_result`, the Python API
  (`conformance.api`);
- the engine contracts: a micrograd-style scalar class, a function engine, or a process speaking
  JSON lines (`conformance.engines`, described in the README);
- `conformance.strategies`, hypothesis strategies for people's own property tests;
- `conformance.pytest_plugin`: `pytest --backprop-engine ...`, and `conformance_cases` and
  `assert_case` for a few cases inside people's own tests.
Everything else is internal: the pipeline's stages, one subpackage each (core, cases, engines,
oracles, checks, failures, report, run, cli), whose names may change between versions.

The API is imported on first use, so the command line starts without loading torch.
"""

__version__ = "0.1.0"
__all__ = ["CheckResult", "check_engine", "run_spec", "torch_result"]


def __getattr__(name: str):  # PEP 562: lazy, torch loads only when the API is used
    if name in __all__:
        from conformance import api

        return getattr(api, name)
    raise AttributeError(f"module 'conformance' has no attribute {name!r}")
