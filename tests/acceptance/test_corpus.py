"""The corpus: engines written from scratch the usual, imperfect ways (tests/engines/corpus/), each
with the verdict it deserves in its EXPECTED. Correct ones pass the default gate with no fail or
error row, their differences from torch shown as `differs`; buggy ones fail, blamed on the broken
op, which is never reported as "not supported"."""

from __future__ import annotations

import ast
import functools
from dataclasses import replace
from pathlib import Path

import pytest

from conformance.cases.generate import op_variants
from conformance.core.options import RunOptions
from conformance.core.records import from_values, strictly, to_frame
from conformance.run.pipeline import RunOutcome, run, verdict

CORPUS = Path(__file__).parents[1] / "engines" / "corpus"
OPTIONS = RunOptions(cases=100, steps=10, timeout=10.0)
# Engines whose path-heavy semantics cases time out by design (2**50 and 2**41 node visits, with
# no visited set): each such case costs the whole --timeout, and 1 s shows it as well as 10
# (their other graphs take milliseconds; tests/unit/test_schedule.py checks the limits).
TIMEOUTS = {"no_visited_topo": 1.0}


def _expected(path: Path) -> dict | None:
    """The file's EXPECTED, read without running the file."""
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "EXPECTED" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{path.name} has no EXPECTED")


ENGINES = {p.stem: e for p in sorted(CORPUS.glob("*.py")) if (e := _expected(p)) is not None}
CORRECT = [name for name, e in ENGINES.items() if e["correct"]]
BUGGY = [name for name, e in ENGINES.items() if not e["correct"]]


@functools.cache
def outcome(name: str) -> RunOutcome:
    """A run of the corpus engine `name` in worker processes, as a user would run it."""
    engine = f"{CORPUS / name}.py:{ENGINES[name]['cls']}"
    return run(replace(OPTIONS, engine=engine, timeout=TIMEOUTS.get(name, OPTIONS.timeout)))


def test_the_corpus_has_correct_and_buggy_engines() -> None:
    assert len(CORRECT) >= 6 and len(BUGGY) >= 8


@pytest.mark.parametrize("name", CORRECT)
def test_a_correct_engine_passes_the_default_gate(name: str) -> None:
    result = outcome(name)
    frame = result.frame
    bad = frame[frame["status"].isin(["fail", "error", "xpass"])]
    assert bad.empty, bad[["case", "node", "detail"]].head().to_string()
    assert result.exit_code == 0 and result.message.startswith("PASS (gradients correct)")
    # Its differences from torch's conventions are still there to read, each with its kind.
    differs = frame[frame["status"] == "differs"]
    assert len(differs) and (differs["kind"] != "").all()


@pytest.mark.parametrize("name", CORRECT)
def test_strict_gates_a_correct_engine_on_its_conventions(name: str) -> None:
    # The rows as `run --strict` keeps them: one run serves both verdicts (--strict itself is
    # tested end to end on micrograd).
    frame = outcome(name).frame.astype(object)
    rows = from_values(list(frame.where(frame.notna(), None).itertuples(index=False, name=None)))
    strict = to_frame(strictly(rows))
    code, message = verdict(strict)
    assert code == 1 and "torch's conventions, under --strict" in message, message
    gating = strict[strict["status"].isin(["fail", "error"])]
    assert len(gating) and (gating["kind"] != "").all()


@pytest.mark.parametrize("name", BUGGY)
def test_a_buggy_engine_fails_blamed_on_its_op(name: str) -> None:
    expected = ENGINES[name]
    result = outcome(name)
    assert result.exit_code == 1, result.message
    assert "look like" not in result.message  # float64 engines: no `--dtype` suggestion
    bad = result.frame[result.frame["status"].isin(["fail", "error"])]
    named = {op for b in bad["blame"] for op in b.split(",")} | set(bad["op"])
    for op in expected["broken_ops"]:
        assert op in named, (op, named)
        # A broken op is a failing op, never a missing one.
        assert not [v for v in result.unsupported if v[0] == op], result.unsupported


@pytest.mark.parametrize("name", list(ENGINES))
def test_missing_ops_are_the_ones_the_engine_lacks(name: str) -> None:
    # An op is missing when the engine cannot build it on Values alone (`x ** y`, `exp(x)`);
    # a form with a number (`2.0 - x` without __rsub__) may be missing on its own.
    result = outcome(name)
    missing = {v[0] for v in op_variants() if "c" not in v[1] and v in result.unsupported}
    assert set(ENGINES[name]["missing_ops"]) == missing


# The hint a student should read first for the engines whose bug has a name.
HINTS = {
    "no_visited_topo": "visited more than once",
    "backward_nothing": "propagated nothing",
    "values_only_assign": "overwritten, not accumulated",
    "sigmoid_missing_factor": "missing chain-rule factor",
}


@pytest.mark.parametrize("name", sorted(HINTS))
def test_a_structural_bug_is_named_in_the_hint(name: str) -> None:
    frame = outcome(name).frame
    hints = frame[frame["status"] == "fail"]["hint"]
    assert hints.str.contains(HINTS[name], regex=False).any(), list(set(hints))[:5]
