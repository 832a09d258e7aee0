"""Time limits per case, shapes that keep timing out, the run's budget: runs that end, and say why.

No assert here is on wall time: the limits are set small through the options, and the rows say
what happened.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from conformance.cases.semantics import deep_chain, semantics
from conformance.core.options import RunOptions
from conformance.core.paths import path_counts, path_heavy, traversal_length
from conformance.engines.schedule import FLOOR, PER_NODE, REPEATS, Schedule, case_limit
from conformance.failures import reproducers
from conformance.run.pipeline import run

ROOT = Path(__file__).resolve().parents[2]
SEMANTICS = {c.case_id: c.spec for c in semantics()}
DIAMONDS = SEMANTICS["sem-deep-diamonds"]
CHAIN = deep_chain(5_000)


def test_paths_double_with_every_level_of_diamonds() -> None:
    assert path_counts(DIAMONDS)["x0"] == 2**40
    assert traversal_length(CHAIN) == 5_000  # a chain: one path from each node
    assert path_heavy(DIAMONDS) and not path_heavy(CHAIN)


def test_small_graphs_get_the_floor_big_ones_their_size_and_none_more_than_timeout() -> None:
    assert case_limit(DIAMONDS, timeout=30) == FLOOR
    big = deep_chain(10_000)
    assert case_limit(big, timeout=30) == PER_NODE * (10_000 + 2)
    assert case_limit(deep_chain(50_000), timeout=30) == 30  # 90 s by its size: capped
    assert case_limit(DIAMONDS, timeout=2) == 2


def test_a_timeout_says_its_limit_and_names_a_missing_visited_set_where_paths_abound() -> None:
    schedule = Schedule(timeout=30)
    text = schedule.timed_out(DIAMONDS, "semantics/graph", FLOOR)
    assert text.startswith(f"timed out after {FLOOR:g} s (this graph's limit")
    assert "3,298,534,883,325 node visits" in text and "without a visited set" in text
    chain = schedule.timed_out(CHAIN, "semantics/chain", FLOOR)
    assert "visited set" not in chain


def test_after_a_path_heavy_timeout_graphs_with_as_many_paths_are_not_run() -> None:
    schedule = Schedule(timeout=30)
    doubling = SEMANTICS["sem-doubling-50-times"]  # 2**50 paths: more than the diamonds' 2**40
    assert schedule.admit(doubling, "semantics/add") is None
    schedule.timed_out(DIAMONDS, "semantics/graph", FLOOR)
    why = schedule.admit(doubling, "semantics/add")
    assert why.startswith("not run: a graph with fewer paths timed out")
    assert schedule.admit(CHAIN, "semantics/chain") is None
    assert schedule.expects_timeout(doubling) and not schedule.expects_timeout(CHAIN)


def test_after_repeated_timeouts_of_one_shape_the_rest_of_it_is_not_run() -> None:
    schedule = Schedule(timeout=30)
    for _ in range(REPEATS):
        assert schedule.admit(CHAIN, "graphs/exp") is None
        schedule.timed_out(CHAIN, "graphs/exp", FLOOR)
    assert schedule.admit(CHAIN, "graphs/exp") == (
        f"not run: {REPEATS} cases like it (graphs, op exp) timed out"
    )
    assert schedule.admit(CHAIN, "graphs/log") is None


def test_a_spent_budget_refuses_everything() -> None:
    schedule = Schedule(timeout=30, budget=0.0)
    assert schedule.spent()
    assert schedule.admit(CHAIN) == "not run: the run's time budget of 0 s was spent"


@pytest.fixture
def unshrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The runs below are judged by their rows, which exist before the failures are shrunk to
    reproducers (tests/e2e/test_reproducers.py): shrinking them cost 2-8 s a run, in engine calls
    that time out or visit every path."""
    monkeypatch.setattr(reproducers, "MAX_SHRUNK", 0)


@pytest.mark.usefixtures("unshrunk")
def test_an_engine_without_a_visited_set_ends_the_semantics_suite_with_reasons() -> None:
    # The suite's two path-heavy graphs, in its order, and its long chain: the cases the asserts
    # read (the others, repeated backward, only fail).
    only = ("sem-doubling-50-times", "sem-deep-diamonds", "sem-deep-chain-5000")
    options = RunOptions(
        engine="tests.engines.structural:NoVisitedSet", suites=("semantics",), timeout=1.0,
        only=only,
    )  # fmt: skip
    frame = run(options).frame
    by_case = frame.groupby("case")
    for case in ("sem-doubling-50-times", "sem-deep-diamonds"):
        rows = by_case.get_group(case)
        assert list(rows["status"]) == ["error"]
        detail = rows["detail"].iloc[0]
        assert "timed out after 1 s" in detail, detail
        assert "once per path (a topological order without a visited set)" in detail
    chain = by_case.get_group("sem-deep-chain-5000")
    assert (chain["status"] == "pass").all()  # one path per node: a long graph is no problem


@pytest.mark.usefixtures("unshrunk")
def test_cases_like_three_that_timed_out_are_not_run() -> None:
    options = RunOptions(
        # It hangs in exp, not in the probe before the cases (2 s more, covered in test_cli).
        engine="tests.engines.hostile:HangsInExpOnceRunning", suites=("graphs",), cases=0,
        timeout=1.0,
    )  # fmt: skip
    frame = run(options).frame
    exp = frame[frame["op"] == "exp"]
    assert len(exp) > REPEATS
    timed_out = exp["detail"].str.contains("timed out after 1 s")
    assert timed_out.sum() == REPEATS
    rest = exp[~timed_out]
    assert (rest["status"] == "error").all()
    why = f"not run: {REPEATS} cases like it (graphs, op exp) timed out"
    assert (rest["detail"] == why).all()
    assert (frame[frame["op"] == "log"]["status"] == "pass").all()


def test_a_spent_budget_gives_not_run_rows_and_every_report(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--suite", "examples,semantics", "--budget", "0.001", "--out", str(tmp_path)
    )
    assert proc.returncode == 1, proc.stderr
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert (frame["status"] == "error").all()
    assert (frame["detail"] == "not run: the run's time budget of 0.001 s was spent").all()
    assert frame["case"].nunique() == len(frame)  # one row a case
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["options"]["budget"] == 0.001 and not meta["interrupted"]
    for name in ("summary.csv", "conformance.html", "junit.xml"):
        assert (tmp_path / name).exists(), name
