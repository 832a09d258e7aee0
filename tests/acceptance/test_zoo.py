"""The bug zoo: every classic bug is caught, blamed on its op, with its hint: wrong math by the
default run, a convention bug (relu'(0) = 1, repeated backward, recursion) under --strict."""

from __future__ import annotations

import pytest

from conformance.core.records import DIFFERENCE_KINDS, Record, strictly
from conformance.core.vocabulary import OPS
from tests.engines.zoo import CONVENTION_BUGS, ZOO
from tests.helpers import check_engine_rows, scalar_engine


def _failing(rows: list[Record]) -> list[Record]:
    return [r for r in rows if r.status in ("fail", "error")]


def _blamed(rows: list[Record], op: str) -> bool:
    """Some failing row blames `op` (or is a case of it); any row at all when `op` is ""."""
    bad = _failing(rows)
    named = {r.blame for r in bad} | {r.op for r in bad if r.op != "graph"}
    return bool(bad) and (not op or any(op in name.split(",") for name in named))


def _explained(rows: list[Record], hint: str) -> bool:
    return not hint or any(hint in r.hint for r in _failing(rows))


@pytest.mark.parametrize("cls", list(ZOO), ids=lambda c: c.__name__)
def test_each_bug_is_caught_blamed_and_explained(cls: type) -> None:
    op, hint = ZOO[cls]
    if cls in CONVENTION_BUGS:  # asserted of every row: the whole default run
        rows = check_engine_rows(scalar_engine(cls), seed=0)
        differs = [r for r in rows if r.status == "differs"]
        assert {r.kind for r in differs} == {CONVENTION_BUGS[cls]}, {r.kind for r in differs}
        assert not _failing(rows), "a convention gated"
        rows = strictly(rows)
    else:
        # What is asserted is that some failing row blames the op and some gives the hint: the
        # default run, case by case, up to the first case after which both hold (as in
        # test_acceptance); a bug that is never caught runs it to the end, and fails below.
        seen: list[Record] = []

        def caught(new: list[Record]) -> bool:
            seen.extend(new)
            return _blamed(seen, op) and _explained(seen, hint)

        rows = check_engine_rows(scalar_engine(cls), seed=0, until=caught)
    bad = _failing(rows)
    assert bad, f"{cls.__name__} passed the default run"
    if op:
        named = {r.blame for r in bad} | {r.op for r in bad if r.op != "graph"}
        assert any(op in name.split(",") for name in named), (op, named)
    if hint:
        assert any(hint in r.hint for r in bad), {r.hint for r in bad}


def test_each_zoo_entry_says_what_it_breaks() -> None:
    """The parametrized test above checks each entry's op and hint: they must be real ones."""
    graph_level = {"chain", "backward", ""}  # not one op: the traversal or the accumulation
    for cls, (op, hint) in ZOO.items():
        assert op in OPS or op in graph_level, (cls.__name__, op)
        assert op or hint, f"{cls.__name__} names neither an op nor a hint"
    assert set(CONVENTION_BUGS) <= set(ZOO)
    assert set(CONVENTION_BUGS.values()) <= set(DIFFERENCE_KINDS)
    assert len({cls.__name__ for cls in ZOO}) == len(ZOO)  # ids of the test above are unique
