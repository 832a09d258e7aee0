"""Scale: parallel checking, shards and their merge, big graphs. No timed asserts here: the
speed figures are in `python -m benchmarks`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

# 223 cases (183 fixed, 40 random graphs): over 2 * MIN_CASES_PER_JOB, so two checkers run.
ARGS = ("--suite", "examples,graphs,edges,semantics", "--cases", "40", "--seed", "5")
SMALL = ("--suite", "examples,graphs,edges", "--cases", "20", "--seed", "5")  # to shard


def test_parallel_checkers_give_the_same_bytes_as_one(conformance, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    assert conformance("run", *ARGS, "--jobs", "1", "--out", str(one)).returncode == 0
    proc = conformance("run", *ARGS, "--jobs", "2", "--out", str(two))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads((two / "run.json").read_text())["cases"] >= 200  # enough to go parallel
    for name in ("conformance.csv", "summary.csv", "coverage.csv"):
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_a_failing_engine_in_parallel_gives_the_same_rows_and_reproducers(
    conformance, tmp_path: Path
) -> None:
    engine = ("--engine", "tests.engines.zoo:SigmoidMissingOneMinus")
    one, two = tmp_path / "one", tmp_path / "two"
    assert conformance("run", *engine, *ARGS, "--jobs", "1", "--out", str(one)).returncode == 1
    assert conformance("run", *engine, *ARGS, "--jobs", "2", "--out", str(two)).returncode == 1
    assert (one / "conformance.csv").read_bytes() == (two / "conformance.csv").read_bytes()
    names = lambda d: sorted(p.name for p in (d / "failures").iterdir())  # noqa: E731
    assert names(one) == names(two) and names(one)


def test_shards_merge_into_the_unsharded_report(conformance, tmp_path: Path) -> None:
    whole = tmp_path / "whole"
    assert conformance("run", *SMALL, "--jobs", "1", "--out", str(whole)).returncode == 0
    shards = []
    for k in (1, 2, 3):
        out = tmp_path / f"shard{k}"
        proc = conformance("run", *SMALL, "--jobs", "1", "--shard", f"{k}/3", "--out", str(out))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        shards.append(str(out))
    merged = tmp_path / "merged"
    proc = conformance("merge", shards[2], shards[0], shards[1], "--out", str(merged))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (whole / "conformance.csv").read_bytes() == (merged / "conformance.csv").read_bytes()
    assert (whole / "summary.csv").read_bytes() == (merged / "summary.csv").read_bytes()
    meta = json.loads((merged / "run.json").read_text())
    assert meta["rows"] == len(pd.read_csv(whole / "conformance.csv"))
    assert meta["exit_code"] == 0


def test_merge_refuses_shards_that_do_not_fit(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    outs = {}
    for name, extra in {
        "a1": ("--shard", "1/2"), "a2": ("--shard", "2/2"), "b2": ("--shard", "2/2", "--seed", "9"),
        "c2": ("--shard", "2/3"), "whole": (),
    }.items():  # fmt: skip
        outs[name] = str(tmp_path / name)
        args = ("run", "--suite", "examples", "--jobs", "1", *extra, "--out", outs[name])
        assert conformance(*args).returncode == 0
    assert_one_line_error(conformance("merge", outs["a1"]), "missing")
    assert_one_line_error(conformance("merge", outs["a1"], outs["a1"], outs["a2"]), "twice")
    assert_one_line_error(conformance("merge", outs["a1"], outs["b2"]), "seed")
    assert_one_line_error(conformance("merge", outs["a1"], outs["c2"]), "not shard")
    assert_one_line_error(conformance("merge", outs["whole"]), "not shard")
    assert_one_line_error(conformance("merge", str(tmp_path / "nope")), "not a finished run")


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards_are_usage_errors(conformance, assert_one_line_error, bad: str) -> None:
    assert_one_line_error(conformance("run", "--shard", bad), "K/N")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["refimpl", "torch"])
def test_random_graphs_of_100000_nodes(conformance, engine: str, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--engine", engine, "--suite", "graphs", "--cases", "3", "--max-nodes",
        "100000", "--seed", "11", "--jobs", "1", "--timeout", "300", "--out", str(tmp_path),
        timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    meta = json.loads((tmp_path / "run.json").read_text())
    assert meta["counts"]["pass"] > 0


@pytest.mark.slow
def test_the_thorough_million_node_chain(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--suite", "semantics", "--profile", "thorough", "--jobs", "1", "--timeout",
        "600", "--out", str(tmp_path), timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert "sem-deep-chain-1000000" in set(frame["case"])
