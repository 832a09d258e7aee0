"""Bugs in backward() as a whole are named as such, before any op is blamed."""

from __future__ import annotations

import re

import pytest

from conformance.api import check_engine
from conformance.core.options import RunOptions
from conformance.run.pipeline import run
from tests.engines.buggy import perturbed
from tests.engines.structural import (
    BackwardDoesNothing,
    ClosuresNeverCalled,
    NoVisitedSet,
    RecursiveNoVisitedSet,
)

# Fan-out and diamonds, each small enough to run on an engine without a visited set.
FAN_OUT = ("sem-backward-once", "sem-large-upstream", "sem-leaf-not-reaching-output")


def _failing(frame):
    return frame[frame["status"] == "fail"]


@pytest.mark.parametrize("cls", [ClosuresNeverCalled, BackwardDoesNothing])
def test_a_backward_that_runs_no_node_is_said_to_propagate_nothing(cls: type) -> None:
    result = check_engine(cls, suites=("graphs",), cases=20)
    bad = _failing(result.frame)
    graphs = bad[bad["op"] == "graph"]  # random graphs: several ops, fan-out, an upstream factor
    assert len(graphs) > 20
    assert (graphs["blame"] == "backward").all(), set(graphs["blame"])
    assert graphs["hint"].str.startswith("backward propagated nothing").all()
    assert graphs["first_wrong"].str.startswith("backward(): every leaf gradient is 0").all()


def test_no_row_blames_an_output_times_1_node_that_the_graph_does_not_have() -> None:
    # Upstream 1: the engine calls backward() on the output itself, so no `* 1` node exists.
    result = check_engine(BackwardDoesNothing, suites=("examples",))
    bad = _failing(result.frame)
    assert len(bad) > 0
    assert not bad["hint"].str.contains(r"\* 1\b").any(), set(bad["hint"])
    seed_sum = bad[bad["case"] == "seed-sum"]
    assert (seed_sum["blame"] == "backward").all()
    assert seed_sum["hint"].str.contains("set.* gradient to 1").all()


def test_one_op_that_sends_nothing_is_still_that_op() -> None:
    # One op, upstream 1: the op's backward sending nothing looks the same; the op is named.
    result = check_engine(ClosuresNeverCalled, suites=("examples",))
    seed_exp = _failing(result.frame).query("case == 'seed-exp'")
    assert list(seed_exp["blame"]) == ["exp"]
    assert seed_exp["hint"].str.startswith("nothing arrived").all()


@pytest.mark.parametrize("cls", [NoVisitedSet, RecursiveNoVisitedSet])
def test_an_order_without_a_visited_set_is_named_not_its_ops(cls: type) -> None:
    result = check_engine(cls, suites=("graphs",), cases=20)
    bad = _failing(result.frame)
    assert len(bad) > 10
    assert (bad["blame"] == "backward").all(), set(bad["blame"])
    assert (
        bad["hint"]
        .str.startswith("nodes visited more than once: topological order without a visited set")
        .all()
    )
    assert bad["first_wrong"].str.contains(r"reaches the output by \d+ paths").all()


def test_fan_out_cases_of_the_semantics_suite_name_the_missing_visited_set() -> None:
    # In worker processes: the suite's other cases would never end in this one.
    options = RunOptions(
        engine="tests.engines.structural:NoVisitedSet", suites=("semantics",), only=FAN_OUT
    )
    bad = _failing(run(options).frame)
    assert set(bad["case"]) == set(FAN_OUT)
    assert (bad["blame"] == "backward").all()
    assert bad["hint"].str.contains("without a visited set").all()


def test_a_correct_engine_on_the_same_graphs_is_not_diagnosed() -> None:
    # The simulation explains only gradients that differ from torch's: NoVisitedSet's parent
    # class, with its visited set, passes.
    result = check_engine(NoVisitedSet.__mro__[1], suites=("graphs",), cases=20)
    assert result.passed, result.report()


def test_a_diagnosis_shows_the_digits_where_the_numbers_differ() -> None:
    # One part in a million: six digits would print the engine's number and torch's alike.
    result = check_engine(perturbed("tanh"), suites=("graphs",), cases=0)
    rows = _failing(result.frame)
    assert len(rows) > 0
    for text in rows["first_wrong"]:
        engine, torch = re.match(r"dL/d\w+ = (\S+), torch (\S+?);", text).groups()
        assert engine != torch, text
