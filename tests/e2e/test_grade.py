"""`grade DIR`: the engine class of each file is found by reading it, helpers are listed apart, each
engine's headline is its most important finding, each op gets a word, and the exit code gates."""

from __future__ import annotations

import ast
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from conformance.core.options import RunOptions
from conformance.core.vocabulary import OPS
from conformance.run.grade import engine_class, engines_in, exit_code, headline, op_verdicts
from conformance.run.pipeline import RunOutcome, run
from tests.engines.alt import Value
from tests.engines.zoo import ReluGradAtZeroIsOne
from tests.helpers import ROOT, scalar_engine

ALT = (ROOT / "tests" / "engines" / "alt.py").read_text()
CORPUS = ROOT / "tests" / "engines" / "corpus"
FAST = ("--suite", "examples,graphs", "--cases", "5")  # the one-op cases cover every op


def _renamed(cls: str) -> str:
    """alt.py, a correct engine, with its class called `cls`."""
    source = ALT.replace("class Value:", f"class {cls}:").replace("(x, Value)", f"(x, {cls})")
    source = source.replace("(other, Value)", f"(other, {cls})")
    assert f"class {cls}:" in source and "Value" not in source.split(f"class {cls}:")[1]
    return source


def _tanh_without_square(source: str) -> str:
    """The classic bug: tanh' = 1 / cosh(x) instead of 1 / cosh(x)²."""
    wrong = source.replace("g / math.cosh(self.data) ** 2", "g / math.cosh(self.data)")
    assert wrong != source
    return wrong


HELPER = '''"""Plots for my engine: no engine in here."""
from alice import Value


def show(v: Value) -> str:
    return f"{v.data} (grad {v.grad})"
'''


def _grades(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "grades.csv", keep_default_na=False).set_index("engine")


@dataclass(frozen=True)
class Graded:
    """A graded folder: where the engines are, where the grades went, what the command said."""

    folder: Path
    out: Path
    proc: subprocess.CompletedProcess


@pytest.fixture(scope="module")
def graded(conformance, tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """A class of two: a correct `Value`, a `Scalar` with a wrong tanh; and a helper module."""
    folder = tmp_path_factory.mktemp("class")
    (folder / "alice.py").write_text(ALT)
    (folder / "bob.py").write_text(_tanh_without_square(_renamed("Scalar")))
    (folder / "plot_utils.py").write_text(HELPER)
    out = tmp_path_factory.mktemp("grades")
    return Graded(folder, out, conformance("grade", str(folder), *FAST, "--out", str(out)))


def test_the_engine_class_is_found_without_attr(graded: Graded) -> None:
    folder, table = graded.folder, _grades(graded.out)
    assert list(table.index) == [f"{folder / 'alice.py'}:Value", f"{folder / 'bob.py'}:Scalar"]


def test_a_helper_module_is_listed_apart_not_as_an_engine(graded: Graded) -> None:
    folder, out, proc = graded.folder, graded.out, graded.proc
    assert "COULD NOT LOAD" not in proc.stdout
    helpers = proc.stdout.split("helper modules, no engine:")[1]
    assert str(folder / "plot_utils.py") in helpers
    assert not any("plot_utils" in engine for engine in _grades(out).index)
    page = (out / "grades.html").read_text()
    assert "Helper modules, no engine" in page and "plot_utils.py" in page.split("Helper")[1]
    assert 'href="alice/conformance.html"' in page  # relative: the folder can move


def test_the_buggy_engine_is_headlined_by_its_op_and_the_class_fails(graded: Graded) -> None:
    folder, proc = graded.folder, graded.proc
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = _grades(graded.out)
    bob = table.loc[f"{folder / 'bob.py'}:Scalar"]
    assert bob["verdict"] == "FAIL"
    assert bob["headline"].startswith("wrong tanh: "), bob["headline"]
    assert bob["op:tanh"] == "wrong"
    others = {op: bob[f"op:{op}"] for op in OPS if op != "tanh"}
    assert set(others.values()) == {"correct"}, others
    alice = table.loc[f"{folder / 'alice.py'}:Value"]
    assert (alice["verdict"], alice["headline"]) == ("PASS", "correct")
    assert {alice[f"op:{op}"] for op in OPS} == {"correct"}
    assert "pass_rate" not in table.columns


def test_a_folder_of_correct_engines_exits_0(conformance, tmp_path: Path) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(ALT)
    (folder / "carol.py").write_text(_renamed("Var"))
    (folder / "plot_utils.py").write_text(HELPER)
    proc = conformance("grade", str(folder), *FAST, "--out", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert set(_grades(tmp_path / "out")["verdict"]) == {"PASS"}


def test_an_engine_that_cannot_load_fails_the_class_not_the_run(
    conformance, tmp_path: Path
) -> None:
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "alice.py").write_text(ALT)
    (folder / "dave.py").write_text(ALT + "\nimport a_module_nobody_installed\n")
    proc = conformance("grade", str(folder), *FAST, "--out", str(tmp_path / "out"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    dave = _grades(tmp_path / "out").loc[f"{folder / 'dave.py'}:Value"]
    assert dave["verdict"] == "COULD NOT LOAD"
    assert "a_module_nobody_installed" in dave["headline"]


def test_grade_without_engines_is_a_usage_error(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    assert_one_line_error(conformance("grade", str(tmp_path)), "nothing to grade")
    assert_one_line_error(conformance("grade", str(tmp_path / "nope")), "not a folder")
    (tmp_path / "plot_utils.py").write_text(HELPER)
    assert_one_line_error(conformance("grade", str(tmp_path)), "1 helper modules")


def test_grading_a_whole_class_with_attr(conformance, tmp_path: Path) -> None:
    """--attr names the class, even one imported under that name; each zoo bug is its op."""
    pytest.importorskip("micrograd")
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("alice", "bob", "carol"):
        (folder / f"{name}.py").write_text(ALT)
    zoo = {"NegGradNotNegated": "neg", "SigmoidMissingOneMinus": "sigmoid",
           "PowerRuleOffByOne": "powc", "ExpDerivativeOfInput": "exp"}  # fmt: skip
    for i, bug in enumerate(zoo):
        (folder / f"s{i}_{bug}.py").write_text(f"from tests.engines.zoo import {bug} as Value\n")
    (folder / "broken.py").write_text("raise SystemExit('nothing here')\nclass Value: ...\n")
    (folder / "no_class.py").write_text("x = 1\n")
    out = tmp_path / "grades"
    proc = conformance("grade", str(folder), "--attr", "Value", "--engine", "micrograd",
                       "--suite", "examples,graphs,edges", "--cases", "5", "--out", str(out),
                       timeout=900)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = _grades(out)
    assert len(table) == 9
    name = lambda stem: f"{folder / stem}.py:Value"  # noqa: E731
    for stem in ("alice", "bob", "carol"):
        assert table.loc[name(stem), "verdict"] == "PASS"
    for i, (bug, op) in enumerate(zoo.items()):
        row = table.loc[name(f"s{i}_{bug}")]
        assert row["verdict"] == "FAIL"
        assert row[f"op:{op}"] == "wrong"
        assert row["headline"].split(":")[0] in (f"wrong {op}", "wrong square"), row["headline"]
    assert table.loc[name("broken"), "verdict"] == "COULD NOT LOAD"
    assert "defines no 'Value'" in proc.stdout.split("helper modules, no engine:")[1]
    micrograd = table.loc["micrograd"]
    assert micrograd["verdict"] == "PASS", micrograd["headline"]
    assert micrograd["headline"].startswith("conventions differ from torch: ieee")
    assert (out / "grades.html").read_text().count("<tr>") == 10
    assert (out / "alice" / "conformance.html").exists()


def _outcome(cls: type, suites: tuple[str, ...], cases: int = 10) -> RunOutcome:
    return run(RunOptions(suites=suites, cases=cases), engine=scalar_engine(cls))


def test_a_convention_alone_is_headlined_as_one_and_its_op_says_so() -> None:
    outcome = _outcome(ReluGradAtZeroIsOne, ("graphs", "edges"))
    verdicts = op_verdicts(outcome.frame, outcome.unsupported)
    assert verdicts["relu"] == "convention"
    assert headline(outcome, verdicts).startswith("conventions differ from torch: ieee (relu")


class TanhRaisesInBackward(Value):
    """tanh exists, but its backward raises: an error row, not a missing op."""

    def tanh(self):
        out = super().tanh()

        def back(g):
            raise TypeError("must be real number, not TanhRaisesInBackward")

        out._backward = back
        return out


class NoRelu(Value):
    """An engine without relu (it says so the way Python does)."""

    def relu(self):
        raise NotImplementedError("relu comes next week")


def test_an_error_is_headlined_with_what_raised_and_where() -> None:
    outcome = _outcome(TanhRaisesInBackward, ("graphs",))
    verdicts = op_verdicts(outcome.frame, outcome.unsupported)
    assert verdicts["tanh"] == "wrong"
    text = headline(outcome, verdicts)
    assert text.startswith("error in tanh: ") and "TypeError" in text, text


def test_a_missing_op_is_missing_not_wrong_and_the_rest_is_correct() -> None:
    outcome = _outcome(NoRelu, ("graphs",))
    verdicts = op_verdicts(outcome.frame, outcome.unsupported)
    assert verdicts["relu"] == "missing"
    assert {w for op, w in verdicts.items() if op != "relu"} == {"correct"}
    assert headline(outcome, verdicts) == "correct; missing: relu"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            "class Value:\n def __init__(s, d): s.data, s.grad = d, 0\n def backward(s): ...",
            "Value",
        ),
        # a base class of the same file brings backward(); the preferred name wins over Node
        (
            "class Node:\n def backward(self): ...\nclass Value(Node):\n def __init__(self, d):\n"
            "  self.data = d\n  self.grad = 0.0\nclass Neuron:\n def backward(self): ...",
            "Value",
        ),
        # dataclass fields count as much as assignments in __init__
        ("class Tensor0:\n data: float\n grad: float = 0.0\n def backward(self): ...", "Tensor0"),
        ("class MLP:\n def __init__(self): self.layers = []\n def backward(self): ...", None),
        (HELPER, None),
    ],
)
def test_engine_class_reads_the_source(source: str, expected: str | None) -> None:
    assert engine_class(source) == expected


def test_engines_in_lists_private_test_and_engineless_files_as_helpers(tmp_path: Path) -> None:
    (tmp_path / "alice.py").write_text(ALT)
    (tmp_path / "_common.py").write_text(ALT)  # an engine class, but private by its name
    (tmp_path / "test_alice.py").write_text("from alice import Value\n")
    (tmp_path / "plot_utils.py").write_text(HELPER)
    (tmp_path / "half.py").write_text("class Value(:\n")  # does not parse: a row that says why
    roster = engines_in(tmp_path)
    assert roster.engines == (f"{tmp_path / 'alice.py'}:Value", f"{tmp_path / 'half.py'}:Value")
    assert [Path(p).name for p, _ in roster.helpers] == [
        "_common.py",
        "plot_utils.py",
        "test_alice.py",
    ]
    # With --attr: a file that defines the name, or imports something `as` it; a plain
    # `from alice import Value` is a helper using the engine beside it.
    (tmp_path / "zed.py").write_text("from tests.engines.zoo import OverwrittenGrad as Value\n")
    with_attr = engines_in(tmp_path, "Value")
    assert [Path(e).name for e in with_attr.engines] == ["alice.py:Value", "half.py:Value",
                                                         "zed.py:Value"]  # fmt: skip
    assert [Path(p).name for p, _ in with_attr.helpers] == [
        "_common.py",
        "plot_utils.py",
        "test_alice.py",
    ]


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.py")) if CORPUS.is_dir() else []


@pytest.mark.parametrize("path", _corpus(), ids=lambda p: p.stem)
def test_each_corpus_engine_class_is_found(path: Path) -> None:
    tree = ast.parse(path.read_text())
    expected = next(
        ast.literal_eval(n.value)
        for n in tree.body
        if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "EXPECTED"
    )
    assert engine_class(path.read_text()) == (expected["cls"] if expected else None)


@pytest.mark.parametrize(
    ("codes", "expected"),
    [([0, 0], 0), ([0, 1], 1), ([3, 3], 3), ([0, 3], 1), ([1, 130], 130)],
)
def test_the_exit_code_of_a_class(codes: list[int], expected: int) -> None:
    assert exit_code(pd.DataFrame({"exit_code": codes})) == expected


def test_the_grade_help_documents_the_exit_codes(conformance) -> None:
    proc = conformance("grade", "--help")
    assert "1 when one fails or cannot load" in " ".join(proc.stdout.split())
