"""One tensor graph → rows: the loss, then each leaf's gradient (one row per tensor, its shape
first, then its worst element in tolerance units). A failing case is diagnosed once and every
failing row carries it: the op to blame, the first tensor where the engine and torch part, and
a hint where the pattern is a known bug (see `diagnose_tensors`)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from conformance.checks.elements import shape_text, units_text, worst_element
from conformance.checks.tensor_hints import Diagnosis, diagnose_tensors
from conformance.core.case import Case, EngineCall
from conformance.core.dtypes import ulps
from conformance.core.numfmt import pair
from conformance.core.records import Record, Status
from conformance.core.tensor_graph import TensorGraph, written
from conformance.core.tensors import TensorResult
from conformance.oracles.tensor_graphs import tensor_reference

__all__ = ["check_tensor_graph", "compare_tensor"]


def check_tensor_graph(case: Case, engine: str, result, call: EngineCall) -> list[Record]:
    """The case's rows: `skip` for an op the engine lacks; else the loss and each leaf's
    gradient (an `error` row first where the engine raised), diagnosed where any is wrong."""
    graph: TensorGraph = case.spec  # type: ignore[assignment]
    if not isinstance(result, TensorResult):  # the worker's own error: the engine broke down
        result = TensorResult(error=result.error, skip=getattr(result, "skip", None))
    if getattr(result, "skip", None):
        return [Record.for_case(case, engine, status=Status.SKIP, detail=result.skip)]
    arrays = graph.arrays()
    ref = tensor_reference(graph, arrays)
    rows: list[Record] = []
    if result.error:
        rows.append(Record.for_case(case, engine, status=Status.ERROR, detail=result.error))
    if not result.error or result.out is not None:
        loss, tol = np.asarray(ref.loss), np.asarray(ref.loss_tol)
        rows.append(compare_tensor(case, engine, "value", "loss", result.out, loss, tol, graph))
    changed = (result.extra or {}).get("changed") or {}
    for name, during in changed.items():
        made = f"while {during} = {written(graph.nodes[graph.names.index(during)])} was made" if (
            during in graph.names) else f"during {during}"  # fmt: skip
        detail = (f"{name}'s array changed after it was made, {made}: it no longer holds the "
                  f"numbers {name} stands for")  # fmt: skip
        rows.append(Record.for_case(case, engine, status=Status.FAIL, check="value", node=name,
                                    detail=detail))  # fmt: skip
    if not result.error:
        for name, _ in graph.leaves:
            rows.append(compare_tensor(case, engine, "grad", name, result.grads.get(name),
                                       ref.grads[name], ref.grad_tol[name], graph))  # fmt: skip
    if not any(r.status in (Status.FAIL, Status.ERROR) for r in rows):
        return rows
    # The looser bound of textbook formulas: rows within it are `precision`, and the diagnosis
    # does not take a less precise formula's value for a wrong one.
    loose = tensor_reference(graph, arrays, precision=True)
    rows = _precision(rows, loose, result)
    if not any(r.status in (Status.FAIL, Status.ERROR) for r in rows):
        return rows
    try:
        found = diagnose_tensors(graph, arrays, loose, result)
    except Exception:  # a diagnosis that breaks must not cost the rows: they stand without it
        return rows
    return [_diagnosed(r, found) for r in rows]


def _precision(rows: list[Record], loose, result) -> list[Record]:
    """Failing rows whose every element is within `loose`, the bound of textbook formulas (see
    `tensor_reference`): `differs` of kind `precision`, a less precise formula, not wrong math."""
    out = []
    for r in rows:
        got, want, tol = None, None, None
        if r.status == Status.FAIL and r.check == "value" and r.node == "loss":
            got, want, tol = result.out, np.asarray(loose.loss), np.asarray(loose.loss_tol)
        elif r.status == Status.FAIL and r.check == "grad":
            got, want, tol = result.grads.get(r.node), loose.grads[r.node], loose.grad_tol[r.node]
        if r.check == "value" and isinstance(got, np.ndarray) and got.size == want.size == 1:
            got = got.reshape(want.shape)  # a loss of shape (1,) for ()
        if (
            isinstance(got, np.ndarray)
            and got.shape == want.shape
            and np.all(np.abs(got - want) <= tol)
        ):
            r = replace(r, status=Status.DIFFERS.value, kind="precision",
                        detail=f"{r.detail}; within the rounding of a textbook formula (the "
                        "lecture's tanh, exp through log): less precise, not wrong")  # fmt: skip
        out.append(r)
    return out


def _diagnosed(row: Record, found: Diagnosis) -> Record:
    if row.status not in (Status.FAIL, Status.ERROR):
        return row
    row = replace(row, blame=found.blame, first_wrong=found.first_wrong, hint=found.hint)
    if found.kind and row.status == Status.FAIL:  # a convention, not wrong math
        detail = f"{row.detail}; {found.convention}" if found.convention else row.detail
        return replace(row, status=Status.DIFFERS.value, kind=found.kind, detail=detail)
    return row


def compare_tensor(case: Case, engine: str, check: str, name: str, got, want: np.ndarray,
                   tol: np.ndarray, graph: TensorGraph) -> Record:  # fmt: skip
    """One row for one tensor: its shape, then its worst element in tolerance units."""
    what = "the loss" if name == "loss" else f"{name}'s gradient" if check == "grad" else name

    def row(status: Status, **fields) -> Record:
        return Record.for_case(case, engine, status=status, check=check, node=name, **fields)

    if got is None:
        detail = (f"{name}.grad is None after backward(): the engine never set it (does it keep "
                  "gradients only for some tensors, or under another name?)" if check == "grad"
                  else f"no {what}: .data is None")  # fmt: skip
        return row(Status.ERROR, detail=detail)
    if not isinstance(got, np.ndarray) or got.dtype != np.float64:
        return row(Status.ERROR, detail=f"{what} is {type(got).__name__}, not an array of numbers")
    if got.shape != want.shape and not (got.size == want.size == 1 and name == "loss"):
        return row(
            Status.FAIL,
            detail=f"{what} has shape {_shape(got.shape)}, but {name} has shape "
            f"{_shape(want.shape)}",
        )
    w = worst_element(got.reshape(want.shape), want, tol)
    failing, worst, e, a, t, u = w.failing, w.index, w.expected, w.actual, w.tolerance, w.units
    abs_err, rel = w.abs_err, w.rel_err
    where = f" at [{', '.join(str(int(i)) for i in worst)}]" if len(worst) else ""
    ga, ge = pair(a, e)
    off = f"{_units(u)} tolerances off" if t > 0 else "exact: no rounding can move it"
    if failing:
        many = f"{failing} of {want.size} elements beyond tolerance; the worst" if (
            want.size > 1) else "it"  # fmt: skip
        detail = f"{what}, shape {_shape(want.shape)}: {many}{where} is {ga} where torch " \
                 f"gives {ge} ({off})"  # fmt: skip
    else:
        detail = (
            f"{what}, shape {_shape(want.shape)}: within tolerance (the worst {_units(u)} of one)"
        )
    return row(
        Status.FAIL if failing else Status.PASS,
        expected=e, actual=a, abs_err=abs_err, rel_err=rel, tolerance=t,
        ulp=ulps(e, abs_err, graph.dtype) if math.isfinite(abs_err) else math.inf,
        detail=detail,
    )  # fmt: skip


_units = units_text
_shape = shape_text
