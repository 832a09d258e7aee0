"""Verdicts in tiers: a correct engine with a less precise formula is never wrong math, a bound
does not collapse to 0 behind torch's exact zeros, and the same miss at an ill-conditioned point
is not excused as precision."""

from __future__ import annotations

from conformance.checks.compare import within_precision
from conformance.checks.graph import check_case
from conformance.core.case import Case
from conformance.core.records import strictly
from conformance.core.spec import GraphSpec, Node
from conformance.run.pipeline import run_in_process
from refimpl import Value
from tests.helpers import scalar_engine


class DividesThroughInverse(Value):
    """a / b as a * b**-1, as the lecture writes it: 49 / 49 is 0.9999999999999999."""

    def __truediv__(self, other):
        return self * other**-1


def _rows(spec: GraphSpec, cls: type = DividesThroughInverse):
    case = Case("graphs", spec.case_id(), spec, "graph")
    return check_case(case, cls.__name__, run_in_process(scalar_engine(cls), spec))


def test_a_bound_does_not_collapse_behind_torchs_exact_zeros() -> None:
    # log(x/x) is exactly 0 in torch and -1.1e-16 here; its square times y has gradient 0 in
    # torch and 1.2e-32 here: a first-order bound would be 0 and call it wrong.
    nodes = (
        Node("div", ("x0", "x0")),
        Node("log", ("n0",)),
        Node("mul", ("n1", "n1")),
        Node("mul", ("n2", "x1")),
    )
    spec = GraphSpec(leaves=(49.0, 3.0), nodes=nodes, output="n3", upstream=1.5)
    engine = run_in_process(scalar_engine(DividesThroughInverse), spec)
    assert engine.grads[1] != 0.0  # the engine really does differ from torch's exact 0
    rows = _rows(spec)
    assert [r.status for r in rows] == ["pass"] * len(rows), [r.detail for r in rows]


def test_the_lectures_tanh_near_zero_is_a_precision_difference_not_wrong_math() -> None:
    class LectureTanh(Value):
        def tanh(self):
            e = (self * 2.0).exp()
            return (e - 1.0) / (e + 1.0)

    spec = GraphSpec(leaves=(1.6e-9, 2.0), nodes=(Node("tanh", ("x0",)), Node("mul", ("n0", "x1"))),
                     output="n1", upstream=0.75)  # fmt: skip
    rows = _rows(spec, LectureTanh)
    assert {r.status for r in rows} <= {"pass", "differs"}
    differs = [r for r in rows if r.status == "differs"]
    assert differs and {r.kind for r in differs} == {"precision"}
    assert "not wrong math" in differs[0].detail
    # --strict gates it.
    assert {r.status for r in strictly(rows)} >= {"fail"}


def test_a_large_miss_at_an_ill_conditioned_point_is_not_excused_as_precision() -> None:
    # torch's own bound is most of the value: a miss beyond it is not called precision there.
    assert not within_precision(0.82, 0.0, tolerance=0.69, loose=11.0)
    # A well-conditioned point: the same relative looseness is a precision difference.
    assert within_precision(1.0, 1.0 + 1e-15, tolerance=1e-16, loose=1e-14)
    # Near an exact zero, a negligible absolute miss is precision; a visible one is not.
    assert within_precision(0.0, 1.8e-17, tolerance=9.7e-18, loose=1e-16)
    assert not within_precision(0.0, 1.9e-11, tolerance=1e-17, loose=1e-10)
