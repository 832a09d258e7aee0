"""The two promises of the tolerances: correct engines never fail; a 1e-6 error never hides."""

from __future__ import annotations

import functools
from collections import Counter

import pytest

from conformance.engines import load_engine
from tests.acceptance.test_corpus import CORPUS, ENGINES
from tests.acceptance.test_corpus import CORRECT as CORPUS_CORRECT
from tests.engines import buggy
from tests.engines.alt import Value as AltValue
from tests.helpers import check_engine_rows, scalar_engine, sized

CORRECT = {
    "refimpl": lambda: load_engine("refimpl"),
    "torch": lambda: load_engine("torch"),
    "alt": lambda: scalar_engine(AltValue, "alt"),
}


def _statuses(rows) -> Counter:
    return Counter(r.status for r in rows)


@pytest.mark.parametrize("engine", sorted(CORRECT))
@pytest.mark.parametrize("seed", [0, 1])
def test_correct_engines_have_no_failing_row(engine: str, seed: int) -> None:
    rows = check_engine_rows(CORRECT[engine](), seed, cases=sized(250, 600))
    counts = _statuses(rows)
    bad = [r.detail for r in rows if r.status in ("fail", "error")]
    assert not bad, bad[:5]
    assert counts["pass"] > sized(1500, 3000)
    assert counts["unverified"] <= counts["pass"] // 1000


def _corpus_engine(name: str):
    return load_engine(f"{CORPUS / name}.py:{ENGINES[name]['cls']}")


# The corpus's correct engines, written the usual ways (tests/engines/corpus/).
CORRECT_EVERYWHERE = {
    **CORRECT,
    **{f"corpus-{n}": functools.partial(_corpus_engine, n) for n in CORPUS_CORRECT},
}


@pytest.mark.slow
@pytest.mark.parametrize("engine", sorted(CORRECT_EVERYWHERE))
def test_correct_engines_thorough_20000_cases(engine: str) -> None:
    total = Counter()
    for seed in (11, 12, 13, 14):
        rows = check_engine_rows(CORRECT_EVERYWHERE[engine](), seed, cases=5000)
        bad = [r.detail for r in rows if r.status in ("fail", "error")]
        assert not bad, bad[:5]
        total += _statuses(rows)
    # The corpus's engines lack some ops, and these cases are drawn without asking: fewer pass.
    assert total["pass"] > (100_000 if engine in CORRECT else 10_000)


@pytest.mark.parametrize("primitive", sorted(buggy.PRIMITIVES))
def test_one_part_in_a_million_is_caught_for_ten_seeds_of_ten(primitive: str) -> None:
    engine = scalar_engine(buggy.perturbed(primitive), primitive)
    ops, _ = buggy.PRIMITIVES[primitive]

    def names_the_op(rows) -> bool:  # a failing row of a case about the guilty op
        return any(r.status == "fail" and r.op in ops for r in rows)

    for seed in range(10):
        # The default run, case by case, up to the first row that fails and names the op. Its
        # one-op cases catch every primitive within the first ~110 cases; a run of 100 random
        # graphs has them all, in the same order, without building the default 2,000 (0.5 s a
        # seed): an error caught only later would fail here, not pass.
        rows = check_engine_rows(engine, seed, cases=100, until=names_the_op)
        assert names_the_op(rows), f"seed {seed}: a 1e-6 error in {primitive} went unnoticed"


def test_a_classic_bug_is_caught_with_its_op_named() -> None:
    rows = check_engine_rows(scalar_engine(buggy.TanhMissingSquare), 0, cases=sized(300, 2000))
    failing = [r for r in rows if r.status == "fail"]
    assert failing
    # Every diagnosed row blames tanh (repeated-backward cases blame the repetition itself).
    # Where a value is read by several ops, the blame lists them all: tanh must be among them.
    assert all("tanh" in r.blame.split(",") or r.blame == "backward" for r in failing if r.blame)
    assert any(r.op == "tanh" for r in failing)
    one = next(r for r in failing if r.op == "tanh")
    assert "torch computes" in one.detail and "tolerance" in one.detail
    assert "--case" in one.reproduce
