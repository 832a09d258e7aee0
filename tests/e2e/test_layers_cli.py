"""`run --engine layers:...` from the command line: the layers suite, its reports and exit codes,
reproducers that run from any folder, a layer table for other names, and one-line errors."""

from __future__ import annotations

import json
import math
import os
import shlex
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import ROOT

BUGGY = "layers:tests.engines.layer_zoo.bias_not_summed"


def test_refimpl_layers_pass_strict_and_the_csv_is_the_same_in_parallel(
    conformance, tmp_path: Path
) -> None:
    one = conformance("run", "--engine", "layers:refimpl", "--strict", "--cases", "400",
                      "--jobs", "1", "--out", str(tmp_path / "one"))  # fmt: skip
    assert one.returncode == 0, one.stdout + one.stderr
    assert "PASS (gradients correct)" in one.stdout
    meta = json.loads((tmp_path / "one" / "run.json").read_text())
    assert meta["options"]["suites"] == ["layers"]
    two = conformance("run", "--engine", "layers:refimpl", "--strict", "--cases", "400",
                      "--jobs", "2", "--out", str(tmp_path / "two"))  # fmt: skip
    assert two.returncode == 0
    first = (tmp_path / "one" / "conformance.csv").read_bytes()
    assert first == (tmp_path / "two" / "conformance.csv").read_bytes()
    frame = pd.read_csv(tmp_path / "one" / "conformance.csv")
    assert set(frame["suite"]) == {"layers"} and (frame["status"] == "pass").all()


def test_a_buggy_layer_fails_with_its_hint_and_a_reproducer_that_runs_anywhere(
    conformance, processes, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    proc = conformance("run", "--engine", BUGGY, "--cases", "160", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    frame = pd.read_csv(out / "conformance.csv", keep_default_na=False)
    bad = frame[frame["status"] == "fail"]
    assert set(bad["node"]) == {"db"}
    assert bad["hint"].str.contains("dout.sum(axis=0)", regex=False).all()
    (script,) = (out / "failures").glob("*.py")
    data = json.loads(script.with_suffix(".json").read_text())
    assert data["layer"] == "affine" and data["tensor"] == "db"
    ran = processes.run(str(script), cwd=tmp_path, env=dict(os.environ), timeout=120)
    assert ran.returncode == 1 and "grad db: fail: db has shape" in ran.stdout, ran.stderr
    # The row's reproduce command reruns exactly its case.
    argv = shlex.split(bad.iloc[0]["reproduce"])
    again = conformance(*argv[3:-2], "--out", str(tmp_path / "again"), *argv[-2:])
    rows = pd.read_csv(tmp_path / "again" / "conformance.csv")
    assert again.returncode == 1 and set(rows["case"]) == {bad.iloc[0]["case"]}


def test_a_layer_table_maps_other_names_and_argument_orders(conformance, tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text(
        "from refimpl.layers import *  # noqa\n"
        "import refimpl.layers as r\n"
        "def fc_forward(w, x, b):\n    return r.affine_forward(x, w, b)\n"
        "def fc_backward(dout, cache):\n"
        "    dx, dw, db = r.affine_backward(dout, cache)\n    return dw, dx, db\n"
    )
    (tmp_path / "map.toml").write_text(
        'module = "mine.py"\n[affine]\nforward = "fc_forward"\nbackward = "fc_backward"\n'
        'args = ["w", "x", "b"]\n'
    )
    proc = conformance("run", "--engine", f"layers:{tmp_path / 'map.toml'}", "--cases", "160",
                       "--strict", "--out", str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = pd.read_csv(tmp_path / "o" / "conformance.csv")
    assert (frame[frame["op"] == "affine"]["status"] == "pass").all()


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--engine", "layers:nowhere.py"], "no such file"),
        (["--engine", "layers:refimpl", "--suite", "graphs"], "a layer engine runs the layers"),
        (["--suite", "layers"], "--engine layers:FILE.py"),
        (["--engine", "layers:refimpl", "--dtype", "bfloat16"], "numpy has no bfloat16"),
        (["--engine", "layers:json"], "none of the layer functions"),
    ],
)
def test_bad_layer_options_are_one_line(conformance, tmp_path: Path, args, needle) -> None:
    proc = conformance("run", *args, "--out", str(tmp_path / "o"), cwd=ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_the_page_draws_a_heatmap_of_each_failing_gradient(conformance, tmp_path: Path) -> None:
    out = tmp_path / "h"
    proc = conformance("run", "--engine", "layers:tests.engines.layer_zoo.dropout_no_scale",
                       "--cases", "160", "--out", str(out))  # fmt: skip
    assert proc.returncode == 1
    page = (out / "conformance.html").read_text()
    assert 'id="layers"' in page and "the backward forgets the 1/p scale" in page
    svg = page[page.index("dx: |engine − torch| ÷ tolerance") :]
    svg = svg[: svg.index("</svg>")]
    (data,) = [json.loads(p.read_text()) for p in (out / "failures").glob("*.json")]
    (row,) = [r for r in data["rows"] if r["node"] == "dx"]  # the shrunk case's row
    failing = int(row["detail"].split(": ")[1].split(" of ")[0])
    cells = svg.count("<rect") - 5  # the legend's five keys
    assert cells == math.prod(json.loads(json.dumps(data["spec"]["shapes"]["x"])))
    assert svg.count('fill="#8e1519"><title>') == failing  # each wrong element, dark red


def test_check_layer_is_one_quick_look(conformance, tmp_path: Path) -> None:
    ok = conformance("check", "--layer", "affine", "--shapes", "x=4x5,w=5x3")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("layer affine: x 4×5, w 5×3, b 3; engine layers:refimpl")
    assert "grad dw    pass" in ok.stdout
    bad = conformance("check", "--layer", "affine", "--shapes", "x=4x5,w=5x3", "--engine", BUGGY)
    assert bad.returncode == 1
    assert "db has shape (4, 3), but b has shape (3,)" in bad.stdout
    assert "not summed over the batch" in bad.stdout


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--layer", "affine", "--shapes", "x=4x5,w=6x3"], "w has shape [6, 3], not [5, 3]"),
        (["--layer", "dropout", "--config", "p=0"], "p must be a number in (0, 1]"),
        (["--layer", "dropout", "--config", "mode=test"], "checked in training mode"),
        (["--layer", "conv", "--config", "stride=0"], "stride must be a whole number"),
        (["--layer", "conv", "--config", "stride=1.7"], "stride must be a whole number"),
        (["--layer", "batchnorm", "--shapes", "x=4"], "batchnorm takes x of 2 dimensions"),
        (["--layer", "max_pool", "--shapes", "x=4x4"], "max_pool takes x of 4 dimensions"),
        (["--layer", "affin"], "unknown layer 'affin'"),
        (["--layer", "relu", "--shapes", "q=3"], "relu has no input q"),
        (["--layer", "relu", "--shapes", "x=3xa"], "not a shape like 4x5"),
        (["--layer", "conv", "--config", "strid=2"], "conv has no setting 'strid'"),
        ([], "give an expression or --layer"),
        (["a*b", "--at", "a=1,b=2", "--shapes", "x=2"], "go with --layer"),
        (["--layer", "relu", "--engine", "micrograd"], "needs a layer engine"),
    ],
)
def test_bad_check_layer_input_is_one_line(conformance, args, needle) -> None:
    proc = conformance("check", *args)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], proc.stderr


def test_grade_layers_grades_a_class_of_layer_modules(conformance, tmp_path: Path) -> None:
    """A folder of numpy layer files: one row each, a word per layer (missing included)."""
    zoo = ROOT / "tests" / "engines" / "layer_zoo"
    (tmp_path / "alice.py").write_text((zoo / "bias_not_summed.py").read_text())
    (tmp_path / "bob.py").write_text((ROOT / "refimpl" / "layers.py").read_text())
    (tmp_path / "carol.py").write_text(
        "from refimpl.layers import affine_forward, affine_backward\n"
        "def relu_forward(x):\n    return x * (x > 0), x\n"
        "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
    )
    (tmp_path / "_helpers.py").write_text("X = 1\n")
    out = tmp_path / "grades"
    proc = conformance("grade", str(tmp_path), "--layers", "--cases", "160", "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    table = pd.read_csv(out / "grades.csv", keep_default_na=False).set_index("engine")
    alice, bob, carol = (f"layers:{tmp_path / n}.py" for n in ("alice", "bob", "carol"))
    assert table.loc[alice, "verdict"] == "FAIL" and table.loc[alice, "op:affine"] == "wrong"
    assert "not summed over the batch" in table.loc[alice, "headline"]
    assert table.loc[bob, "verdict"] == "PASS" and table.loc[bob, "op:conv"] == "correct"
    assert table.loc[carol, "op:affine"] == "correct" and table.loc[carol, "op:conv"] == "missing"
    assert "op:add" not in table.columns  # a layers grade speaks of layers
    plain = conformance("grade", str(tmp_path), "--out", str(tmp_path / "p"))
    assert plain.returncode == 2 and "add --layers" in plain.stderr
    mixed = conformance("grade", "--engine", "layers:refimpl", "--engine", "refimpl",
                        "--out", str(tmp_path / "m"))  # fmt: skip
    assert mixed.returncode == 2 and "apart" in mixed.stderr


def test_replay_reruns_a_layer_reproducer_on_the_engine_named(conformance, tmp_path: Path) -> None:
    out = tmp_path / "r"
    conformance("run", "--engine", "layers:tests.engines.layer_zoo.transposed_dw", "--cases",
                "160", "--out", str(out))  # fmt: skip
    (path,) = (out / "failures").glob("*.json")
    untold = conformance("replay", str(path))
    assert untold.returncode == 2 and "--trust-engine" in untold.stderr  # never on its word
    trusted = conformance("replay", str(path), "--trust-engine")
    assert trusted.returncode == 1, trusted.stdout + trusted.stderr
    assert "affine(x 1×1, w 1×2, b 2)" in trusted.stdout and "dw has shape (2, 1)" in trusted.stdout
    assert "hint: transposed" in trusted.stdout
    fixed = conformance("replay", str(path), "--engine", "layers:refimpl")
    assert fixed.returncode == 0 and fixed.stdout.rstrip().endswith("PASS")
    big = tmp_path / "big.json"
    data = json.loads(path.read_text())
    data["spec"]["shapes"] |= {"x": [100000, 1000], "w": [1000, 2]}
    big.write_text(json.dumps(data))
    refused = conformance("replay", str(big), "--engine", "layers:refimpl")
    assert refused.returncode == 2 and "replay's limit" in refused.stderr
    scalar = conformance("replay", str(path), "--engine", "refimpl")
    assert scalar.returncode == 2 and "replay it on a layer engine" in scalar.stderr


@pytest.mark.parametrize(
    "table, needle",
    [
        ('[afine]\nforward = "f"\n', "names 'afine', not a layer"),
        ("[affine]\nforward = 5\n", "[affine] forward must be a string"),
        ('[affine]\nargs = "xwb"\n', "[affine] args must be a list of input names"),
        ('[affine]\nforwad = "f"\n', "[affine] has 'forwad'"),
        ('[dropout]\np = "dropp"\n', 'only [dropout] takes p, "keep" (the default) or "drop"'),
    ],
)
def test_a_layer_tables_mistakes_are_one_line(conformance, tmp_path: Path, table, needle) -> None:
    (tmp_path / "mine.py").write_text("from refimpl.layers import *  # noqa\n")
    (tmp_path / "map.toml").write_text('module = "mine.py"\n' + table)
    proc = conformance("run", "--engine", f"layers:{tmp_path / 'map.toml'}", "--out",
                       str(tmp_path / "o"))  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and needle in proc.stderr, proc.stderr
