"""`python -m conformance check EXPR --at ...`: the parser never evaluates, the numbers are the
lecture's, bad input is one line and exit 2, a broken or hanging engine is a verdict."""

from __future__ import annotations

import json
import re
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conformance.cases.expression import ExprError, parse_at, parse_expression
from conformance.cli.check import sign_hint

README = Path(__file__).resolve().parents[2] / "README.md"
SEED = "(y - (h*w1 + k*w2 + b))**2"
SEED_AT = "h=1,k=-3,y=10,w1=5,w2=-1,b=3"


def _ops(text: str) -> list[tuple]:
    e = parse_expression(text)
    return [(n.op, n.args, n.param) for n in e.nodes]


def test_the_seed_formula_maps_onto_the_vocabulary() -> None:
    e = parse_expression(SEED)
    assert e.names == ("y", "h", "w1", "k", "w2", "b")
    assert [n.op for n in e.nodes] == ["mul", "mul", "add", "add", "sub", "powc"]
    assert e.nodes[-1].param == 2.0 and e.output == "n5"
    spec = e.spec(parse_at([SEED_AT]), order=["h", "k", "y", "w1", "w2", "b"])
    assert spec.leaf_names == ("h", "k", "y", "w1", "w2", "b")
    assert spec.leaves == (1.0, -3.0, 10.0, 5.0, -1.0, 3.0)
    assert spec.formula() == "(y - (((h * w1) + (k * w2)) + b)) ** 2"


@pytest.mark.parametrize(
    ("text", "ops"),
    [
        ("x**2", [("powc", ("x0",), 2.0)]),
        ("x**-1", [("powc", ("x0",), -1.0)]),
        ("x**(1/2)", [("powc", ("x0",), 0.5)]),
        ("x**1.5", [("powv", ("x0", "c0"), None)]),
        ("x**y", [("powv", ("x0", "x1"), None)]),
        ("2**x", [("powv", ("c0", "x0"), None)]),
        ("-x + 2*3", [("neg", ("x0",), None), ("add", ("n0", "c0"), None)]),
        ("(a+b)*(a+b)", [("add", ("x0", "x1"), None), ("mul", ("n0", "n0"), None)]),
        ("leaky_relu(+x) / exp(-1)", [("leaky_relu", ("x0",), None), ("div", ("n0", "c0"), None)]),
        ("sigmoid(tanh(log(relu(x))))", [
            ("relu", ("x0",), None), ("log", ("n0",), None), ("tanh", ("n1",), None),
            ("sigmoid", ("n2",), None),
        ]),
    ],
)  # fmt: skip
def test_operators_and_functions_become_nodes_and_constants_fold(text: str, ops: list) -> None:
    assert _ops(text) == ops


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("__import__('os')", "__import__() is not in the vocabulary"),
        ("__import__('os').system('true')", "attribute access"),
        ("x.real", "attribute access"),
        ("open('f')", "open() is not in the vocabulary"),
        ("(lambda: x)()", "this call is not allowed"),
        ("lambda: x", "a lambda"),
        ("[x for x in y]", "a comprehension"),
        ("(x for x in y)", "a generator"),
        ("x[0]", "indexing"),
        ("x if y else z", "if-else"),
        ("x < y", "a comparison"),
        ("x and y", "and / or"),
        ("(x := 2)", ":="),
        ("'a' * x", "a string"),
        ("True * x", "not a number"),
        ("1j * x", "not a number"),
        ("x // 2", "the operator //"),
        ("x % 2", "the operator %"),
        ("~x", "the operator ~"),
        ("9**9**9", "outside the range"),
        ("x**9**9", "outside the range"),
        ("x**100", "outside the range"),
        ("10**400 * x", "outside the range"),
        ("1" * 400 + " * x", "too large"),
        ("1e999 * x", "too large"),
        ("1/0 * x", "not a finite number"),
        ("log(0) * x", "not a finite number"),
        ("exp", "is a function"),
        ("exp(x, y)", "exactly one argument"),
        ("exp(x=1)", "exactly one argument"),
        ("2 + 3", "no variable"),
        ("x +", "not an expression"),
        ("", "empty"),
        ("(" * 300 + "x" + ")" * 300, "not an expression"),
        ("x + " + "-" * 3000 + "x", "not an expression: nested too deeply"),
        ("exp(" * 150 + "x" + ")" * 150, "nested more than"),
        ("x" + " + x" * 2000, "characters long"),
    ],
)
def test_anything_outside_the_grammar_is_refused_unevaluated(text: str, needle: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expression(text)
    assert needle in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("at", "needle"),
    [
        (["x"], "wants NAME=VALUE"),
        (["x=abc"], "is not a number"),
        (["x=1,x=2"], "gives x twice"),
        (["1x=3"], "not a variable name"),
        (["x=1", "q=2"], "does not use"),
        ([], "no value for x"),
    ],
)
def test_bad_values_are_refused(at: list[str], needle: str) -> None:
    with pytest.raises(ExprError) as info:
        parse_expression("x * 2").spec(parse_at(at))
    assert needle in str(info.value)


def test_sign_hints_say_which_way_lowers_the_loss() -> None:
    assert sign_hint("w2", -6.0) == "dL/dw2 = −6 < 0: increasing w2 lowers L"
    assert sign_hint("w1", 2.0).startswith("dL/dw1 = 2 > 0: increasing w1 raises L")
    assert "leaves L unchanged" in sign_hint("x", 0.0)
    assert "says otherwise" in sign_hint("x", 2.0, -1.0)
    assert "no direction" in sign_hint("x", float("nan"))


def test_the_lectures_example_checks_out_on_the_command_line(conformance, tmp_path: Path) -> None:
    svg = tmp_path / "seed.svg"
    proc = conformance("check", SEED, "--at", SEED_AT, "--svg", str(svg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    table = {ln.split()[0]: ln.split()[1:] for ln in lines if ln.startswith(("L ", "dL/d"))}
    expected = {"L": "1", "dL/dw1": "2", "dL/dw2": "−6", "dL/db": "2", "dL/dh": "10",
                "dL/dk": "−2", "dL/dy": "−2"}  # fmt: skip
    for name, value in expected.items():
        engine, torch, *_, status = table[name]
        assert (engine, torch, status) == (value, value, "pass"), (name, table[name])
    assert "  dL/dw2 = −6 < 0: increasing w2 lowers L" in lines
    assert lines[-1] == "PASS (gradients correct): 7 pass"
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg") and "numbers within tolerance" in svg.read_text()
    shown = re.search(r"```sh\n(python -m conformance check .*?)\n```\n\n```\n(.*?)```",
                      README.read_text(), flags=re.S)  # fmt: skip
    assert shlex.split(shown.group(1))[3:] == ["check", SEED, "--at", SEED_AT]
    assert proc.stdout == shown.group(2), "the README shows what check prints"


def test_json_gives_every_gradient_three_ways(conformance) -> None:
    proc = conformance("check", SEED, "--at", SEED_AT, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["value"] == {"engine": 1.0, "torch": 1.0, "status": "pass",
                             "tolerance": data["value"]["tolerance"]}  # fmt: skip
    w2 = data["gradients"]["w2"]
    assert (w2["engine"], w2["torch"], w2["status"]) == (-6.0, -6.0, "pass")
    assert w2["fd"] == pytest.approx(-6.0, rel=1e-8)
    assert list(data["gradients"]) == ["h", "k", "y", "w1", "w2", "b"]
    assert data["exit_code"] == 0 and data["verdict"] == "PASS (gradients correct): 7 pass"


def test_a_wrong_engine_fails_with_the_diagnosis(conformance) -> None:
    proc = conformance(
        "check", "x*y + tanh(x)", "--at", "x=0.5,y=2",
        "--engine", "tests.engines.zoo:SwappedProductRule", "--format", "json",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    assert data["gradients"]["y"] == {**data["gradients"]["y"], "engine": 2.0, "torch": 0.5,
                                      "status": "fail"}  # fmt: skip
    assert "first wrong" in data["detail"] and data["verdict"].startswith("FAIL")


def test_a_hanging_engine_is_stopped_by_the_timeout(conformance) -> None:
    proc = conformance(
        "check", "exp(x)", "--at", "x=1", "--engine", "tests.engines.hostile:HangsInExp",
        "--timeout", "1",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "timed out after 1 s" in proc.stdout and proc.stdout.splitlines()[-1].startswith("FAIL")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["check", "__import__('os').system('touch /tmp/pwned')", "--at", "x=1"], "attribute"),
        (["check", "x*y", "--at", "x=1"], "no value for y"),
        (["check", "x*y", "--at", "x=1,y=2,z=3"], "does not use"),
        (["check", "x", "--at", "x=one"], "is not a number"),
        (["check", "x", "--at", "x=1", "--engine", "nosuch"], "unknown engine"),
        (["check", "x", "--at", "x=1", "--format", "yaml"], "invalid choice"),
        (["check", "x", "--at", "x=1", "--svg", "/nonexistent/dir/x.svg"], "cannot write --svg"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    conformance, assert_one_line_error, args: list[str], needle: str
) -> None:
    assert_one_line_error(conformance(*args), needle)
