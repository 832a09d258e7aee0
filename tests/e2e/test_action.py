"""The GitHub Action's command (action.yml runs scripts/gate.sh): it gates, keeps the report and
writes the verdict to the job summary; its inputs are never run as shell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

SWAPPED = f"{ROOT / 'tests/engines/corpus/mul_grad_swapped.py'}:Value"


def _gate(tmp_path: Path, engine: str, args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",  # its python
        "PYTHONPATH": str(ROOT),
        "ENGINE": engine,
        "REPORT": str(tmp_path / "report"),
        "ARGS": args,
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    return subprocess.run(["bash", str(ROOT / "scripts/gate.sh")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_the_action_runs_the_gate_script_with_its_inputs() -> None:
    action = (ROOT / "action.yml").read_text()
    assert 'run: bash "$GITHUB_ACTION_PATH/scripts/gate.sh"' in action
    for name in (
        "ENGINE: ${{ inputs.engine }}",
        "ARGS: ${{ inputs.args }}",
        "uses: actions/upload-artifact",
    ):
        assert name in action


def test_the_gate_passes_refimpl_and_fails_a_buggy_engine(tmp_path: Path) -> None:
    passed = _gate(tmp_path, "refimpl", "--suite examples --strict")
    assert passed.returncode == 0, passed.stderr
    assert (tmp_path / "report" / "conformance.html").is_file()
    assert "PASS (gradients correct)" in (tmp_path / "summary.md").read_text()
    failed = _gate(tmp_path, SWAPPED, "--suite examples  $(touch pwned)")
    assert failed.returncode == 2  # `$(touch pwned)` reached run as two words, not as a command
    assert not (tmp_path / "pwned").exists()
    failed = _gate(tmp_path, SWAPPED, "--suite examples")
    assert failed.returncode == 1, failed.stderr
    assert "FAIL (wrong math)" in (tmp_path / "summary.md").read_text()
