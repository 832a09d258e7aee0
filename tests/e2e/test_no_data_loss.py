"""Nothing lost: interrupts at any moment, two runs on one folder, `--out` that names the wrong
folder, and checker processes that stop under `--jobs N`, all as a user meets them."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conformance.report.writers import MANIFEST, REPORT_FILES

ROOT = Path(__file__).resolve().parents[2]
HANGS = "tests.engines.hostile:HangsInExpOnceRunning"  # hangs at seed-exp, not in the probe

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc, uses flock")


@pytest.fixture
def start(start_conformance):
    """`start(*ARGS, cwd=ROOT, **ENV)`: `python -m conformance ARGS`, started, not waited for
    (killed when the test ends)."""

    def start(*args: str, cwd: Path = ROOT, fresh: bool = False, **env: str) -> subprocess.Popen:
        env = {**os.environ, "PYTHONPATH": str(ROOT), **env}
        return start_conformance(*args, cwd=cwd, env=env, fresh=fresh)

    return start


@pytest.fixture
def start_hanging(start):
    """`start_hanging(OUT, fresh=False)`: a run of the examples whose engine hangs in exp
    (seed-exp), until it is stopped."""
    return lambda out, fresh=False: start(
        "run", "--engine", HANGS, "--suite", "examples", "--timeout", "60", "--out", str(out),
        fresh=fresh,
    )  # fmt: skip


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen, timeout: float = 120) -> None:
    """Poll until `condition` holds; fail if the run ends first or it takes too long."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the moment never came"
        time.sleep(0.02)


def handles_sigterm(pid: int) -> bool:
    """Whether the process has its own SIGTERM handler yet (bit 15 of SigCgt)."""
    status = Path(f"/proc/{pid}/status").read_text()
    caught = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(caught.split()[1], 16) & (1 << (signal.SIGTERM - 1)))


def partial_has(out: Path, case: str) -> Callable[[], bool]:
    """The partial CSV holds `case`'s rows."""
    path = out / ".conformance.partial.csv"
    return lambda: path.exists() and case in path.read_text()


def stop(proc: subprocess.Popen, signum: int) -> str:
    """Send `signum`, wait; the run's stderr, after checking it ended as an interrupt."""
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr, stderr
    assert "conformance: interrupted" in stderr or "INTERRUPTED" in stdout, stdout + stderr
    return stderr


def assert_consistent(out: Path) -> dict | None:
    """Either no report at all, or every report with run.json saying "interrupted" and the
    CSV holding exactly the rows run.json counts; run.json's contents, if any."""
    present = [n for n in REPORT_FILES if (out / n).exists()]
    if not present:
        return None
    assert sorted(present) == sorted(REPORT_FILES)
    meta = json.loads((out / "run.json").read_text())
    assert meta["interrupted"] is True and meta["exit_code"] == 130
    assert len(pd.read_csv(out / "conformance.csv")) == meta["rows"]
    return meta


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_at_start_exits_130_in_one_line(
    start_hanging, tmp_path: Path, signum: int
) -> None:
    # An engine that hangs: a busy machine cannot let the run end before the signal lands
    # (a signal during the interpreter's shutdown finds the default handler, and kills it).
    # A new interpreter: the signal lands while it still imports, as "at start" means.
    proc = start_hanging(tmp_path / "o", fresh=True)
    wait_for(lambda: handles_sigterm(proc.pid), proc)
    stderr = stop(proc, signum)
    assert stderr.strip() == "conformance: interrupted"
    assert_consistent(tmp_path / "o")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_leaves_the_rows_so_far_and_run_json(
    start_hanging, tmp_path: Path, signum
) -> None:
    out = tmp_path / "o"
    proc = start_hanging(out)
    wait_for(partial_has(out, "seed-square"), proc)
    stop(proc, signum)
    meta = assert_consistent(out)
    assert meta is not None and meta["rows"] > 0
    assert "seed-exp" not in set(pd.read_csv(out / "conformance.csv")["case"])


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(lambda o: (o / ".conformance.csv.tmp").exists(), id="csv-being-written"),
        pytest.param(
            lambda o: (o / "conformance.csv").exists() and not (o / "run.json").exists(),
            id="just-after-the-csv-rename",
        ),
        pytest.param(lambda o: (o / ".junit.xml.tmp").exists(), id="junit-being-written"),
    ],
)
def test_a_signal_while_reports_are_written_finishes_a_consistent_set(
    start, tmp_path: Path, moment
):
    out = tmp_path / "o"
    # Each report waits 0.3 s before its rename (a variable only tests set): the moment lasts
    # that long (two of them for the one after the CSV), 15 times the wait_for poll; the run
    # then writes the rest of its 7 reports.
    slow = {"CONFORMANCE_TEST_SLOW_REPORTS": "0.3"}
    proc = start("run", "--suite", "examples", "--out", str(out), **slow)
    wait_for(lambda: moment(out), proc)
    stop(proc, signal.SIGTERM)
    meta = assert_consistent(out)
    assert meta is not None and meta["rows"] == 28  # every row of the examples suite
    assert not (out / ".conformance.partial.csv").exists()  # the full set is on disk


def test_a_second_run_on_the_same_folder_is_refused(
    conformance, start_hanging, tmp_path: Path
) -> None:
    out = tmp_path / "o"
    first = start_hanging(out)  # a process, holding the folder's lock
    wait_for(partial_has(out, "seed-square"), first)
    second = conformance("run", "--suite", "examples", "--out", str(out))  # in this process
    stdout, stderr = second.stdout, second.stderr
    assert second.returncode == 2, stdout + stderr
    assert stderr.count("\n") == 1 and "another run is writing to" in stderr, stderr
    assert partial_has(out, "seed-square")()  # the second run deleted nothing of the first's
    stop(first, signal.SIGINT)
    frame = pd.read_csv(out / "conformance.csv")
    assert set(frame["engine"]) == {HANGS}  # the first run's rows only, not spliced
    assert_consistent(out)


def test_an_empty_out_is_refused_and_the_current_folder_left_alone(start, tmp_path: Path) -> None:
    mine = tmp_path / "conformance.csv"
    mine.write_text("my,own\n1,2\n")
    proc = start("run", "--suite", "examples", "--out", "", cwd=tmp_path)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2, stdout + stderr
    assert stderr.count("\n") == 1 and "--out is empty" in stderr
    assert mine.read_text() == "my,own\n1,2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance.csv"]


def test_a_report_named_file_no_run_wrote_is_refused_not_deleted(
    conformance, tmp_path: Path
) -> None:
    mine = tmp_path / "run.json"
    mine.write_text('{"mine": true}\n')
    proc = conformance("run", "--suite", "examples", "--out", str(tmp_path))
    stderr = proc.stderr
    assert proc.returncode == 2, proc.stdout + stderr
    assert stderr.count("\n") == 1 and "run.json, which no conformance run wrote" in stderr
    assert mine.read_text() == '{"mine": true}\n'
    assert not (tmp_path / "conformance.csv").exists()


def test_reports_of_a_run_from_before_manifests_are_still_replaced(
    conformance, tmp_path: Path
) -> None:
    old = {"engine": "refimpl", "verdict": "PASS: 1 pass", "options": {}, "exit_code": 0}
    (tmp_path / "run.json").write_text(json.dumps(old))
    (tmp_path / "conformance.csv").write_text("old\n")
    proc = conformance("run", "--suite", "examples", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (tmp_path / "conformance.csv").read_text() != "old\n"


def test_only_files_the_previous_run_wrote_are_removed(conformance, tmp_path: Path) -> None:
    buggy = "tests.engines.zoo:ExpDerivativeOfInput"  # seed-exp fails
    first = conformance("run", "--engine", buggy, "--suite", "examples", "--out", str(tmp_path))
    assert first.returncode == 1
    written = json.loads((tmp_path / MANIFEST).read_text())["files"]
    failures = [n for n in written if n.startswith("failures/")]
    assert failures and all((tmp_path / n).exists() for n in failures)
    scripts = {n.removesuffix(".json") + ".py" for n in failures if n.endswith(".json")}
    assert scripts and scripts <= set(written)
    notes = tmp_path / "failures" / "my-notes.py"
    notes.write_text("# mine\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    # This run stops before running anything: what is left is what the first run did not write.
    second = conformance("run", "--engine", "no_such_module:V", "--out", str(tmp_path))
    assert second.returncode == 2
    assert not any((tmp_path / n).exists() for n in written)
    assert notes.read_text() == "# mine\n" and (tmp_path / "notes.txt").read_text() == "mine\n"


# 136 one-op cases and 70 random graphs: over 2 * MIN_CASES_PER_JOB, so two checkers run.
PARALLEL = ("--suite", "graphs", "--cases", "70", "--jobs", "2")


@pytest.mark.parametrize(
    ("engine", "why"),
    [
        ("tests.engines.checker_trouble:KillsItsChecker", "checker process of this case died"),
        ("tests.engines.checker_trouble:LoadsOnlyInTheRun", "did not load in a checker process"),
    ],
)
def test_a_checker_that_stops_costs_error_rows_not_the_run(
    conformance, tmp_path: Path, engine, why
) -> None:
    out = tmp_path / "o"
    proc = conformance("run", "--engine", engine, *PARALLEL, "--out", str(out))
    stderr = proc.stderr
    assert proc.returncode == 1, proc.stdout + stderr
    assert "Traceback" not in stderr, stderr
    frame = pd.read_csv(out / "conformance.csv", keep_default_na=False)
    meta = json.loads((out / "run.json").read_text())
    assert meta["cases"] == 206 and frame["case"].nunique() == 206
    assert len(frame) == meta["rows"]
    lost = frame[frame["detail"].str.contains(why, regex=False)]
    assert len(lost) > 0 and set(lost["status"]) == {"error"}
    assert (frame["status"] == "pass").sum() > 0  # the other checker's cases were checked
    assert not (out / ".conformance.partial.csv").exists()


def _small_files(limit: int):
    def apply() -> None:  # in the child: writes past `limit` bytes fail, as on a full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_disk_that_fills_mid_run_is_one_line_not_a_traceback(
    conformance_process, tmp_path: Path
) -> None:
    proc = conformance_process(
        "run", "--suite", "graphs", "--cases", "40", "--out", str(tmp_path),
        preexec_fn=_small_files(20_000),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("conformance: error: cannot write")
    assert not (tmp_path / "conformance.csv").exists()  # no report truncated
