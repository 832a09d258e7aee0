"""`replay` runs only the engine the command line names: a reproducer's engine is information."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from conformance.failures.reproducers import FAILURE_KIND, replay_command
from tests.helpers import ROOT

SPEC = {"schema": 1, "leaves": [1.0], "nodes": [{"op": "exp", "args": ["x0"]}], "output": "n0"}
DOUBLED = f"{sys.executable} tests/engines/protocol/doubled.py"  # run from ROOT


def _reproducer(tmp_path: Path, engine: str) -> Path:
    """A reproducer file, as a bug report might carry it, naming `engine`."""
    path = tmp_path / "shared.json"
    data = {"schema": 1, "kind": FAILURE_KIND, "engine": engine, "run_folder": str(tmp_path),
            "spec": SPEC}  # fmt: skip
    path.write_text(json.dumps(data))
    return path


def test_replay_refuses_to_run_the_command_a_shared_file_names(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    command = shlex.join(["touch", str(marker)])
    path = _reproducer(tmp_path, f"command:{command}")
    proc = conformance("replay", str(path))
    assert_one_line_error(proc, "--trust-engine")
    line = proc.stderr.strip()
    assert repr(f"command:{command}") in line  # which engine the file names
    assert f"--engine-command {shlex.quote(command)}" in line  # and how to run it
    assert not marker.exists()
    assert "case" not in proc.stdout  # nothing ran, nothing printed


def test_replay_refuses_a_module_engine_the_file_names_and_says_how_to_run_it(
    conformance,
    assert_one_line_error,
    tmp_path: Path,
) -> None:
    path = _reproducer(tmp_path, "tests.engines.zoo:MissingChainFactor")
    proc = conformance("replay", str(path))
    assert_one_line_error(proc, "--engine tests.engines.zoo:MissingChainFactor")


def test_trust_engine_runs_the_engine_the_file_names(conformance, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    path = _reproducer(tmp_path, f"command:{shlex.join(['touch', str(marker)])}")
    proc = conformance("replay", str(path), "--trust-engine")
    assert marker.exists()  # it ran (and, speaking no protocol, failed to load: exit 2)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_engine_command_on_the_command_line_runs_that_command(conformance, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = _reproducer(tmp_path, f"command:{shlex.join(['touch', str(marker)])}")
    proc = conformance("replay", str(path), "--engine-command", DOUBLED)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # doubled gradients: a fail
    assert "FAIL" in proc.stdout
    assert not marker.exists()  # the file's command did not run


def test_engine_and_engine_command_together_are_a_usage_error(
    conformance, assert_one_line_error, tmp_path: Path
) -> None:
    path = _reproducer(tmp_path, "refimpl")
    proc = conformance("replay", str(path), "--engine", "refimpl", "--engine-command", DOUBLED)
    assert_one_line_error(proc, "not allowed with")


def test_the_printed_replay_command_names_the_engine_and_runs_as_printed(
    conformance, tmp_path: Path
) -> None:
    path = _reproducer(tmp_path, f"command:{DOUBLED}")
    printed = replay_command(path, f"command:{DOUBLED}")
    assert printed == shlex.join(
        ["python", "-m", "conformance", "replay", str(path), "--engine-command", DOUBLED]
    )
    proc = conformance(*shlex.split(printed)[3:])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    engine = "tests.engines.zoo:MissingChainFactor"
    assert replay_command(path, engine).endswith(f"{shlex.quote(str(path))} --engine {engine}")


def test_a_bare_spec_names_no_engine_and_replays_on_refimpl(conformance, tmp_path: Path) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    proc = conformance("replay", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "engine refimpl" in proc.stdout


def test_the_readme_warns_about_trust_engine() -> None:
    readme = " ".join((ROOT / "README.md").read_text(encoding="utf-8").split())
    assert "`--trust-engine` runs the engine the file names: use it only on files you" in readme
