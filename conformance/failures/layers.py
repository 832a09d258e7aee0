"""Reproducers of layer failures: for each distinct failure (layer, tensor, check, status), the
failing case with the smallest inputs, written as JSON and as a script that runs from any folder
and prints the engine's and torch's arrays side by side, element by element."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from conformance.core.case import Case, EngineCall
from conformance.core.records import FAILING, WRONG, Record
from conformance.engines import portable_engine_name
from conformance.failures.layer_shrink import shrink_layer
from conformance.oracles.layers import layer_reference

__all__ = ["LAYER_FAILURE_KIND", "LayerFailure", "layer_failures", "write_layer_failures"]

LAYER_FAILURE_KIND = "conformance-layer-failure"


@dataclass(frozen=True)
class LayerFailure:
    """A distinct layer failure: its key, the smallest case that shows it, and its rows."""

    key: tuple[str, str, str, str]  # (layer, tensor, check, status)
    case: Case  # the smallest failing case: shrunk from `original` where the engine could rerun
    rows: tuple[Record, ...]
    original: Case | None = None
    # |engine − torch| ÷ tolerance of the failing tensor, element by element, as rows × columns
    # (the first axis, then the others flattened): what the page draws. None where there is no
    # such picture (an error, a wrong shape, or the engine was not run again).
    heat: tuple[tuple[float, ...], ...] | None = None
    shape: tuple[int, ...] = ()


def _size(case: Case) -> tuple[bool, int]:
    """How small a case is, a random one first: its shapes can shrink (a fixed case's values
    are pinned to its shapes)."""
    spec = case.spec
    return bool(spec.values), sum(int(np.prod(s)) for _, s in spec.shapes)  # type: ignore[attr-defined]


def layer_failures(
    cases: Sequence[Case], rows_by_case: dict[str, list[Record]], call: EngineCall | None = None
) -> list:
    """One failure per (layer, tensor, check, status), from the smallest case that has it with
    the diagnosis most of its rows have (a batch of one row can hide what the others show);
    with `call` (the engine again), shrunk to smaller shapes that fail the same way, and with
    its tensor's errors element by element."""
    hints: dict[tuple, Counter] = {}
    wrong: list[tuple[int, Case, tuple[Record, ...]]] = []
    for order, case in enumerate(cases):
        if case.kind != "layer":
            continue
        rows = tuple(r for r in rows_by_case.get(case.case_id, []) if r.status in WRONG)
        wrong.append((order, case, rows))
        for r in rows:
            hints.setdefault((case.op, r.node, r.check, str(r.status)), Counter())[r.hint] += 1
    usual = {key: counts.most_common(1)[0][0] for key, counts in hints.items()}
    best: dict[tuple, tuple[tuple[bool, int], int, Case, tuple[Record, ...]]] = {}
    for order, case, rows in wrong:
        for r in rows:
            key = (case.op, r.node, r.check, str(r.status))
            size = _size(case)
            if r.hint == usual[key] and (key not in best or (size, order) < best[key][:2]):
                best[key] = (size, order, case, rows)
    # In case order, a layer's wrong output before its gradients (the root cause first).
    first: dict[str, int] = {}
    for key, (_, order, _, _) in best.items():
        first[key[0]] = min(first.get(key[0], order), order)
    rank = {"value": 0, "grad": 1}
    found = sorted(best.items(), key=lambda it: (first[it[0][0]], rank.get(it[0][2], 2), it[1][1]))
    failures = [LayerFailure(key, case, rows) for key, (_, _, case, rows) in found]
    if call is None:
        return failures
    out = []
    for f in failures:
        f, result = _shrunk(f, call)
        if f.key[2] in ("grad", "value") and f.key[3] == "fail":
            f = _with_heat(f, result)
        out.append(f)
    return out


def _shrunk(f: LayerFailure, call: EngineCall) -> tuple[LayerFailure, object]:
    """`f` on the smallest shapes that still fail its way, and the engine's result there."""
    from conformance.checks.layers import check_layer

    found: dict[str, tuple[tuple[Record, ...], object]] = {}
    mine = [r for r in f.rows if (r.node, r.check, str(r.status)) == f.key[1:]]
    hint = mine[0].hint if mine else ""

    def still_fails(spec) -> bool:
        trial = replace(f.case, spec=spec, case_id=spec.case_id())
        result = call(spec)
        rows = tuple(check_layer(trial, f.rows[0].engine if f.rows else "", result, call))
        if any((r.node, r.check, str(r.status), r.hint) == (*f.key[1:], hint) for r in rows):
            found[spec.case_id()] = rows, result
            return True
        return False

    spec = shrink_layer(f.case.spec, still_fails)  # type: ignore[arg-type]
    if spec.case_id() not in found:
        return f, call(f.case.spec)  # type: ignore[arg-type]
    rows, result = found[spec.case_id()]
    case = replace(f.case, spec=spec, case_id=spec.case_id())  # type: ignore[arg-type]
    rows = tuple(replace(r, case=case.case_id) for r in rows if r.status in WRONG)
    return replace(f, case=case, rows=rows, original=f.case), result


def _with_heat(f: LayerFailure, result) -> LayerFailure:
    """`f` with its tensor's errors in tolerance units (inf where no rounding can explain any)."""
    spec = f.case.spec
    got = result.grads.get(f.key[1]) if f.key[2] == "grad" else getattr(result, "out", None)
    if getattr(result, "error", None) or not isinstance(got, np.ndarray):
        return f
    try:
        arrays = spec.arrays()  # type: ignore[attr-defined]
        x, mask = arrays["x"], None
        if spec.layer == "dropout":  # type: ignore[attr-defined]
            out = getattr(result, "out", None)
            mask = out / x if isinstance(out, np.ndarray) and out.shape == x.shape else None
        ref = layer_reference(spec, arrays, mask if mask is not None else np.ones_like(x))
    except Exception:
        return f
    want, tol = (
        (ref.grads[f.key[1]], ref.tols[f.key[1]]) if f.key[2] == "grad" else (ref.out, ref.out_tol)
    )
    if got.shape != want.shape or want.ndim == 0:
        return f
    diff = np.abs(got - want)
    with np.errstate(divide="ignore", invalid="ignore"):
        units = np.where(tol > 0, diff / tol, np.where(diff > 0, np.inf, 0.0))
    units = np.where(np.isnan(units), np.inf, units)
    grid = units.reshape(units.shape[0], -1) if units.ndim > 1 else units.reshape(1, -1)
    heat = tuple(tuple(float(v) for v in row) for row in grid)
    return replace(f, heat=heat, shape=tuple(want.shape))


def write_layer_failures(failures: Sequence[LayerFailure], out: Path, engine: str) -> list[Path]:
    """DIR/failures/<case>.json and <case>.py for each failure's case (once a case)."""
    if not failures:
        return []
    folder = out / "failures"
    folder.mkdir(parents=True, exist_ok=True)
    engine = portable_engine_name(engine)
    run_folder = str(Path.cwd())
    paths: list[Path] = []
    for f in failures:
        path = folder / f"{f.case.case_id}.json"
        if path in paths:
            continue
        rows = [r for r in f.rows if r.status in FAILING]
        data = {
            "kind": LAYER_FAILURE_KIND,
            "engine": engine,
            "run_folder": run_folder,
            "case": f.case.case_id,
            "original_case": (f.original or f.case).case_id,
            "suite": f.case.suite,
            "layer": f.key[0],
            "tensor": f.key[1],
            "check": f.key[2],
            "status": f.key[3],
            "hint": rows[0].hint if rows else "",
            "spec": f.case.spec.to_dict(),
            "rows": [
                {
                    "check": r.check,
                    "node": r.node,
                    "status": r.status,
                    "detail": r.detail,
                    "hint": r.hint,
                }
                for r in rows
            ],
            "reproduce": (f.original or f.case).reproduce,
        }
        path.write_text(json.dumps(data, indent=2) + "\n")
        path.with_suffix(".py").write_text(_script(f, engine, run_folder, data))
        paths.append(path)
    return paths


def _script(f: LayerFailure, engine: str, run_folder: str, data: dict) -> str:
    shrunk = f" (shrunk from {f.original.case_id})" if f.original is not None else ""
    title = (
        f"Reproduce {f.key[3]} of {f.key[1]} ({f.key[2]}) of layer {f.key[0]} for engine "
        f"{engine}: case {f.case.case_id}{shrunk}, the smallest shapes that show it."
    )
    return f'''"""{title}

Run it from any folder: python {f.case.case_id}.py
"""

import sys

import numpy as np

sys.path.insert(0, {run_folder!r})  # where the run started: a module engine is found there

from conformance.checks.layers import check_layer  # noqa: E402
from conformance.core.case import Case  # noqa: E402
from conformance.core.tensors import LayerSpec  # noqa: E402
from conformance.engines.layers import load_layer_engine  # noqa: E402
from conformance.oracles.layers import layer_reference  # noqa: E402

ENGINE = {engine!r}
SPEC = LayerSpec.from_dict({json.dumps(data["spec"])})

np.set_printoptions(precision=17, linewidth=120)
arrays = SPEC.arrays()
for name, value in arrays.items():
    print(f"{{name}} =\\n{{value}}\\n")
result = load_layer_engine(ENGINE).run(SPEC)
if result.error or result.skip:
    print(result.error or result.skip)
    raise SystemExit(1)
case = Case("layers", {f.case.case_id!r}, SPEC, SPEC.layer, kind="layer")
rows = check_layer(case, ENGINE, result, None)
mask = result.out / arrays["x"] if SPEC.layer == "dropout" else np.ones_like(arrays["x"])
reference = layer_reference(SPEC, arrays, mask)
for row in rows:
    if row.status == "pass":
        continue
    print(f"{{row.check}} {{row.node}}: {{row.status}}: {{row.detail}}")
    if row.hint:
        print(f"  hint: {{row.hint}}")
    want = reference.grads.get(row.node, reference.out if row.check == "value" else None)
    got = result.grads.get(row.node, result.out if row.check == "value" else None)
    if want is not None and got is not None:
        print(f"  engine:\\n{{np.asarray(got)}}\\n  torch:\\n{{want}}\\n")
raise SystemExit(1 if any(r.status in ("fail", "error") for r in rows) else 0)
'''
