"""The CI files: the workflow runs the gate and keeps the reports; .ci/run tries for a browser."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_workflow_runs_shards_merges_them_as_the_gate_and_keeps_the_reports() -> None:
    text = (ROOT / ".github" / "workflows" / "conformance.yml").read_text()
    shard_job, merge_job = text[: text.index("\n  merge:")], text[text.index("\n  merge:") :]
    # Every shard of SHARDS, once: a shard left out would drop its cases from the gate.
    shards = int(re.search(r"^  SHARDS: (\d+)$", text, re.M).group(1))
    matrix = re.search(r"matrix:\n\s+shard: \[([\d, ]+)\]", shard_job).group(1)
    assert [int(k) for k in matrix.split(",")] == list(range(1, shards + 1))
    assert "nox -s conformance -- --shard ${{ matrix.shard }}/$SHARDS --out reports" in shard_job
    assert "needs: shard" in merge_job and "if: always()" in merge_job
    merge_step = merge_job[merge_job.index("python -m conformance merge") :].splitlines()[0]
    assert "|| true" not in merge_step  # the merged verdict is the gate
    for job in (shard_job, merge_job):
        upload = job[job.rindex("- name:", 0, job.index("actions/upload-artifact@")) :]
        assert "if: always()" in upload.split("with:")[0]  # kept when the gate fails too
        assert "path: reports/" in upload


def test_ci_installs_chromium_where_it_can_and_goes_on_where_it_cannot() -> None:
    text = (ROOT / ".ci" / "run").read_text()
    install = text.index("apt-get install -y -qq chromium")
    assert "command -v chromium" in text and "|| echo" in text[install:]
    assert install < text.index("nox -s tests")
