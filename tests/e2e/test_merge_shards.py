"""`merge` reads and checks every shard whole before it touches `--out`: a bad shard is one line
and exit code 2, and the reports already in `--out` stay; links are never followed, and a
distinct failure two shards found is listed once."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

ENGINE = "tests.engines.zoo:SigmoidMissingOneMinus"  # fails on sigmoid, so shard 2 has reproducers
ARGS = ("--engine", ENGINE, "--suite", "examples,graphs", "--cases", "20", "--jobs", "1")
OLD = "the last merge's report\n"


@pytest.fixture(scope="module")
def made(conformance, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shards 1/2 and 2/2 of one run, made once; each test works on a copy."""
    root = tmp_path_factory.mktemp("shards")
    for k in (1, 2):
        proc = conformance("run", *ARGS, "--shard", f"{k}/2", "--out", str(root / f"s{k}"))
        assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert list((root / "s2" / "failures").glob("*.json")), "shard 2 should have a reproducer"
    return root


@pytest.fixture
def shards(made: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Copies of the two shards, and an --out that holds an earlier report."""
    s1, s2 = (shutil.copytree(made / f"s{k}", tmp_path / f"s{k}") for k in (1, 2))
    out = tmp_path / "out"
    (out / "failures").mkdir(parents=True)
    (out / "conformance.csv").write_text(OLD)
    (out / "failures" / "old.json").write_text("{}")
    # An earlier run's: its manifest lists them (a run deletes only what a run wrote).
    manifest = {"files": ["conformance.csv", "failures/old.json"]}
    (out / ".conformance-manifest.json").write_text(json.dumps(manifest))
    return Path(s1), Path(s2), out


def _edit_options(folder: Path, **changes: object) -> None:
    meta = json.loads((folder / "run.json").read_text())
    meta["options"].update(changes)
    (folder / "run.json").write_text(json.dumps(meta))


def _append(path: Path, text: str) -> None:
    with path.open("a") as f:
        f.write(text)


def _assert_untouched(out: Path) -> None:
    assert (out / "conformance.csv").read_text() == OLD
    assert (out / "failures" / "old.json").exists()


BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "no run.json": (lambda s: (s / "run.json").unlink(), "no run.json"),
    "run.json not JSON": (lambda s: (s / "run.json").write_text("{not json"), "cannot read"),
    "run.json not UTF-8": (lambda s: (s / "run.json").write_bytes(b"\xff\xfe{"), "cannot read"),
    "run.json nested deep": (
        lambda s: (s / "run.json").write_text("[" * 100_000 + "]" * 100_000),
        "nested too deeply",
    ),
    "run.json a list": (lambda s: (s / "run.json").write_text("[]"), "not a run's record"),
    "options.cases a string": (lambda s: _edit_options(s, cases="20"), "options.cases"),
    "options.suites unknown": (lambda s: _edit_options(s, suites=["nope"]), "unknown suites"),
    "options.engine missing": (lambda s: _edit_options(s, engine=None), "options.engine"),
    "shard K above N": (lambda s: _edit_options(s, shard=[3, 2]), "1 <= K <= N"),
    "shard K zero": (lambda s: _edit_options(s, shard=[0, 2]), "1 <= K <= N"),
    "shard not a pair": (lambda s: _edit_options(s, shard=[1, 2, 3]), "not K/N"),
    "shard of booleans": (lambda s: _edit_options(s, shard=[True, True]), "not K/N"),
    "no conformance.csv": (lambda s: (s / "conformance.csv").unlink(), "no conformance.csv"),
    "CSV with other columns": (
        lambda s: (s / "conformance.csv").write_text("a,b,c\n1,2,3\n"),
        "other columns",
    ),
    "CSV rows garbled": (
        lambda s: _append(s / "conformance.csv", '"unterminated\n'),
        "do not parse",
    ),
    "CSV not UTF-8": (
        lambda s: (s / "conformance.csv").write_bytes(b"\xff\xfe" * 10),
        "cannot read",
    ),
    "other seed": (lambda s: _edit_options(s, seed=99), "seed"),
    "other engine": (lambda s: _edit_options(s, engine="refimpl"), "engine"),
    "interrupted": (
        lambda s: (s / "run.json").write_text(
            json.dumps({**json.loads((s / "run.json").read_text()), "interrupted": True})
        ),
        "interrupted",
    ),
}


@pytest.mark.parametrize("name", BREAKAGES)
def test_a_bad_shard_is_one_line_and_leaves_out_as_it_was(
    conformance, assert_one_line_error, name: str, shards: tuple[Path, Path, Path]
) -> None:
    s1, s2, out = shards
    breakage, needle = BREAKAGES[name]
    breakage(s2)
    proc = conformance("merge", str(s1), str(s2), "--out", str(out))
    assert_one_line_error(proc, needle)
    _assert_untouched(out)


@pytest.mark.parametrize("n", [3, 10**7])
def test_shards_that_do_not_make_1_to_n_are_refused_quickly(
    conformance, assert_one_line_error, n: int, shards: tuple[Path, Path, Path]
) -> None:
    s1, s2, out = shards
    _edit_options(s1, shard=[1, n])
    _edit_options(s2, shard=[2, n])
    proc = conformance("merge", str(s1), str(s2), "--out", str(out), timeout=30)
    assert_one_line_error(proc, f"3/{n}")
    assert "missing" in proc.stderr and len(proc.stderr) < 300
    _assert_untouched(out)


def test_out_that_is_one_of_the_shards_is_refused(
    conformance, assert_one_line_error, shards: tuple[Path, Path, Path]
) -> None:
    s1, s2, _ = shards
    before = (s1 / "conformance.csv").read_bytes()
    assert_one_line_error(conformance("merge", str(s1), str(s2), "--out", str(s1)), "--out")
    same = s2.parent / "." / s2.name  # the same folder, spelled otherwise
    assert_one_line_error(conformance("merge", str(s1), str(s2), "--out", str(same)), "--out")
    assert (s1 / "conformance.csv").read_bytes() == before


def test_links_in_failures_are_not_followed(conformance, shards: tuple[Path, Path, Path]) -> None:
    s1, s2, out = shards
    secret = s1.parent / "secret.txt"
    secret.write_text("not for the report")
    (s1 / "failures").mkdir(exist_ok=True)
    os.symlink(secret, s1 / "failures" / "g-000000000000.json")
    os.symlink(s1.parent, s1 / "failures" / "a-folder")
    proc = conformance("merge", str(s1), str(s2), "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    copied = sorted(p.name for p in (out / "failures").iterdir())
    assert copied == sorted(p.name for p in (s2 / "failures").iterdir())
    assert "not for the report" not in (out / "run.json").read_text()


def test_a_failure_two_shards_found_is_listed_once(
    conformance, shards: tuple[Path, Path, Path]
) -> None:
    s1, s2, out = shards
    # Shard 1 found the same distinct failure (op, check, status), shrunk to a case of its own.
    (s1 / "failures").mkdir(exist_ok=True)
    for src in (s2 / "failures").iterdir():
        shutil.copy(src, s1 / "failures" / src.name.replace("g-", "g-0"))
    proc = conformance("merge", str(s1), str(s2), "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    listed = json.loads((out / "run.json").read_text())["failures"]
    assert len(listed) == len(list((s2 / "failures").glob("*.json"))), listed
    assert all(Path(p).name.startswith("g-0") for p in listed)  # shard 1's, in shard order
    assert len(list((out / "failures").glob("*.json"))) == len(listed)


def test_good_shards_still_merge(conformance, shards: tuple[Path, Path, Path]) -> None:
    s1, s2, out = shards
    proc = conformance("merge", str(s2), str(s1), "--out", str(out))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (out / "conformance.csv").read_text() != OLD
    assert not (out / "failures" / "old.json").exists()  # the last run's reproducers are gone
