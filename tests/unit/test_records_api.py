"""The one-of-each APIs: Record by keyword, Status, the spec walker, numfmt, RunOptions' JSON."""

from __future__ import annotations

import json
from dataclasses import fields

import pytest

from conformance.cases.suites import SUITES
from conformance.core.case import Case
from conformance.core.numfmt import g, g_minus, pair, pair_minus
from conformance.core.options import (
    ALL_SUITES,
    EXIT_FAILED,
    EXIT_OK,
    LAYER_SUITES,
    SUITE_NAMES,
    TENSOR_SUITES,
    RunOptions,
)
from conformance.core.records import (
    CHECKED,
    COLUMNS,
    FAILING,
    STATUSES,
    Record,
    Status,
    to_frame,
)
from conformance.core.spec import GraphSpec, Node
from conformance.core.vocabulary import ACTIVATIONS, LEAKY_SLOPE, OPS
from conformance.run.pipeline import verdict

ENGINE = "tests.engines.zoo:SigmoidMissingOneMinus"  # fails: the shards have a `kind` column
ALL_OPTIONS = RunOptions(
    engine="e.py:V", suites=("graphs", "edges"), cases=7, seed=3, max_nodes=9, out="o", jobs=2,
    timeout=1.5, only=("g-1",), profile="thorough", steps=4, shard=(2, 3), budget=60.0,
    strict=True, dtype="float32",
)  # fmt: skip


def _row(status: str) -> Record:
    return Record(suite="graphs", case=f"c-{status}", engine="e", check="grad", status=status)


def test_record_is_keyword_only_with_the_same_columns() -> None:
    with pytest.raises(TypeError):
        Record("graphs", "c", "e", "grad", "x0", "add")  # type: ignore[misc]
    assert COLUMNS[:6] == ("suite", "case", "engine", "check", "node", "op")
    assert COLUMNS[13:16] == ("status", "detail", "reproduce")
    assert list(to_frame([_row("pass")]).columns) == list(COLUMNS)


def test_for_case_fills_in_what_the_case_says() -> None:
    spec = GraphSpec(leaves=(1.0,), nodes=(Node("exp", ("x0",)),), output="n0")
    case = Case("graphs", "g-1", spec, "exp", reproduce="python -m conformance run")
    row = Record.for_case(case, "e", status=Status.ERROR, detail="why")
    assert (row.suite, row.case, row.op, row.check, row.reproduce) == (
        "graphs", "g-1", "exp", "run", "python -m conformance run",
    )  # fmt: skip
    assert row.status == "error" and row.expected is None and row.node == ""


def test_status_is_its_plain_string() -> None:
    assert tuple(s.value for s in Status) == STATUSES
    for s in Status:
        assert s == s.value and f"{s}" == s.value and str(s) == s.value
        assert s.value in {s} and s in {s.value} and json.dumps(s) == f'"{s.value}"'
    frame = to_frame([_row(Status.FAIL), _row("pass")])
    assert frame["status"].isin(FAILING).tolist() == [True, False]


@pytest.mark.parametrize("status", list(Status))
def test_a_status_gates_exactly_when_the_verdict_fails(status: Status) -> None:
    frame = to_frame([_row("pass"), _row(status.value)])
    code, _ = verdict(frame)
    assert (code == EXIT_FAILED) == status.gates
    assert code in (EXIT_OK, EXIT_FAILED)
    assert status.checked == (status.value in CHECKED)
    assert Status.PASS.checked and not Status.DIFFERS.checked and not Status.SKIP.checked


def test_walk_resolves_leaves_constants_and_earlier_nodes() -> None:
    spec = GraphSpec(
        leaves=(2.0, 5.0), consts=(3.0,), output="n1",
        nodes=(Node("mul", ("x0", "c0")), Node("add", ("n0", "x1"))),
    )  # fmt: skip
    nodes = spec.walk(spec.leaves, lambda node, args: OPS[node.op].forward(args, node.param))
    assert nodes == [6.0, 11.0]
    assert spec.resolve("n1", spec.leaves, nodes) == 11.0
    assert spec.resolve("x1", spec.leaves, nodes) == 5.0
    assert spec.resolve("c0", spec.leaves, nodes) == 3.0
    assert spec.named(spec.leaves, nodes) == {
        "x0": 2.0, "x1": 5.0, "c0": 3.0, "n0": 6.0, "n1": 11.0,
    }  # fmt: skip


def test_one_activation_table() -> None:
    assert tuple(ACTIVATIONS) == ("identity", "sigmoid", "tanh", "relu", "leaky_relu")
    assert ACTIVATIONS["leaky_relu"](-2.0) == -2.0 * LEAKY_SLOPE
    assert ACTIVATIONS["leaky_relu"](-2.0) == OPS["leaky_relu"].forward([-2.0], None)


def test_numfmt_minus_variants() -> None:
    assert g_minus(-1.5) == "−1.5" and g(-1.5) == "-1.5"
    assert pair_minus(-1.0000001, -1.0000002) == ("−1.0000001", "−1.0000002")
    assert pair(-1.0000001, -1.0000002) == ("-1.0000001", "-1.0000002")


def test_run_options_round_trip_through_json_with_every_field() -> None:
    data = json.loads(json.dumps(ALL_OPTIONS.to_dict()))
    assert set(data) == {f.name for f in fields(RunOptions)}
    assert RunOptions.from_dict(data) == ALL_OPTIONS
    assert RunOptions.from_dict({}) == RunOptions()
    for f in fields(RunOptions):  # every field differs from its default, so each is read back
        assert getattr(ALL_OPTIONS, f.name) != getattr(RunOptions(), f.name), f.name


@pytest.mark.parametrize(
    ("key", "value"), [("cases", "20"), ("engine", None), ("shard", [1, 2, 3]), ("strict", 1)]
)
def test_run_options_refuse_a_wrong_type_naming_the_option(key: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"options.{key}"):
        RunOptions.from_dict({**ALL_OPTIONS.to_dict(), key: value})


def test_one_list_of_suite_names() -> None:
    assert tuple(SUITES) == ALL_SUITES == SUITE_NAMES + LAYER_SUITES + TENSOR_SUITES
    assert RunOptions().suites == SUITE_NAMES  # the scalar suites; a layer engine gets LAYER_SUITES


def test_merge_keeps_every_option_field(tmp_path) -> None:
    from conformance.engines import load_engine
    from conformance.report.writers import write_reports
    from conformance.run.merge import merge
    from conformance.run.pipeline import run

    base = RunOptions(
        engine=ENGINE, suites=("examples", "graphs"), cases=20, timeout=12.5, budget=77.0
    )
    folders = []
    for k in (1, 2):
        opts = RunOptions(**{**base.__dict__, "shard": (k, 2), "out": str(tmp_path / f"s{k}")})
        write_reports(run(opts, engine=load_engine(ENGINE)), opts, tmp_path / f"s{k}")
        folders.append(tmp_path / f"s{k}")
    merge(folders, tmp_path / "m")
    merged = RunOptions.from_dict(json.loads((tmp_path / "m" / "run.json").read_text())["options"])
    assert merged == RunOptions(**{**base.__dict__, "out": str(tmp_path / "m")})
