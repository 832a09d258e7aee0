"""Report folders written once per test session, in process: a passing run and a failing one
(the bug zoo's NodeListedTwice, with the passing run as its baseline)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

from conformance.core.options import RunOptions
from conformance.engines import load_engine
from conformance.report import baseline
from conformance.report.writers import prepare_out, write_reports
from conformance.run.pipeline import run
from tests.engines.zoo import NodeListedTwice
from tests.helpers import scalar_engine

# Small, but with every part of the page: the worked example, graph failures to draw, an error
# (a RecursionError on the deep chain), neuron failures and loss curves.
OPTIONS = RunOptions(
    suites=("examples", "graphs", "semantics", "neurons", "training"), cases=40, steps=6
)
ZOO = "tests.engines.zoo:NodeListedTwice"


@functools.cache
def report_dirs() -> tuple[Path, Path]:
    """(the passing run's folder, the failing run's folder)."""
    root = Path(tempfile.mkdtemp(prefix="conformance-pages-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    good, bad = root / "pass", root / "fail"
    for out in (good, bad):
        prepare_out(out)
    write_reports(run(OPTIONS, engine=load_engine("refimpl")), OPTIONS, good)
    options = replace(OPTIONS, engine=ZOO)
    outcome = run(options, engine=scalar_engine(NodeListedTwice, ZOO))
    comparison = baseline.compare(baseline.load(good), outcome.frame, options)
    outcome.message += f" ({comparison.summary()})"
    write_reports(outcome, options, bad, baseline=comparison)
    return good, bad
