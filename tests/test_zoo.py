"""The bug zoo: every classic bug is caught by the default run, blamed on its op, with its hint."""

from __future__ import annotations

import pytest

from tests.engines.zoo import ZOO
from tests.helpers import check_engine_rows, scalar_engine


@pytest.mark.parametrize("cls", list(ZOO), ids=lambda c: c.__name__)
def test_each_bug_is_caught_blamed_and_explained(cls: type) -> None:
    op, hint = ZOO[cls]
    rows = check_engine_rows(scalar_engine(cls), seed=0)
    bad = [r for r in rows if r.status in ("fail", "error")]
    assert bad, f"{cls.__name__} passed the default run"
    if op:
        named = {r.blame for r in bad} | {r.op for r in bad if r.op != "graph"}
        assert any(op in name.split(",") for name in named), (op, named)
    if hint:
        assert any(hint in r.hint for r in bad), {r.hint for r in bad}


def test_the_zoo_has_a_dozen_distinct_bugs() -> None:
    assert len(ZOO) >= 12
    assert len({cls.__name__ for cls in ZOO}) == len(ZOO)
