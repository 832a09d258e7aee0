"""`python -m conformance merge DIR...`: join the outputs of `--shard K/N` runs into one report.

The shards are contiguous slices of the same case list, so their CSV rows, joined in shard order,
are the unsharded run's CSV, byte for byte. The other reports are made again from the joined rows;
the shards' reproducer files are copied over.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas as pd

from conformance.options import RunOptions
from conformance.records import COLUMNS
from conformance.report import _atomic, prepare_out, write_reports
from conformance.runner import RunOutcome, verdict
from conformance.spec import SpecError

__all__ = ["merge"]

# Options that must agree between shards (jobs, timeouts and the like may differ).
SAME = ("engine", "suites", "cases", "seed", "max_nodes", "profile", "steps", "only")


def _load(folder: Path) -> tuple[dict, str]:
    try:
        meta = json.loads((folder / "run.json").read_text())
        text = (folder / "conformance.csv").read_text()
    except (OSError, ValueError) as exc:
        raise SpecError(f"{folder}: not a finished run's output ({exc})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("options"), dict):
        raise SpecError(f"{folder}/run.json is not a run's record")
    if meta.get("interrupted"):
        raise SpecError(f"{folder}: that shard was interrupted; run it again")
    return meta, text


def merge(folders: list[Path], out: Path) -> RunOutcome:
    """Check the shards belong together and are complete, then write the joined reports."""
    shards = [(_load(f), f) for f in folders]
    first = shards[0][0][0]["options"]
    n = (first.get("shard") or [1, 1])[1]
    seen: dict[int, tuple[dict, str, Path]] = {}
    for (meta, text), folder in shards:
        opts = meta["options"]
        shard = opts.get("shard")
        if not shard or shard[1] != n:
            raise SpecError(f"{folder}: not shard K/{n} (run with --shard K/{n})")
        for key in SAME:
            if opts.get(key) != first.get(key):
                raise SpecError(f"{folder}: {key} is {opts.get(key)!r}, not {first.get(key)!r}")
        if shard[0] in seen:
            raise SpecError(f"{folder}: shard {shard[0]}/{n} given twice")
        seen[shard[0]] = (meta, text, folder)
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if missing:
        raise SpecError(f"shards {', '.join(f'{k}/{n}' for k in missing)} are missing")

    header = ",".join(COLUMNS) + "\n"
    body = []
    for k in range(1, n + 1):
        text = seen[k][1]
        if not text.startswith(header):
            raise SpecError(f"{seen[k][2]}/conformance.csv has other columns than this version's")
        body.append(text[len(header) :])
    joined = header + "".join(body)

    prepare_out(out)
    copied = []
    for k in range(1, n + 1):  # the reproducers, each shard's own
        src = seen[k][2] / "failures"
        if src.is_dir():
            (out / "failures").mkdir(exist_ok=True)
            for f in sorted(src.iterdir()):
                shutil.copy(f, out / "failures" / f.name)
                if f.suffix == ".json":
                    copied.append(out / "failures" / f.name)
    frame = pd.read_csv(io.StringIO(joined), keep_default_na=False, na_values=[""])
    code, message = verdict(frame)
    unsupported: dict = {}
    for meta, _, _ in seen.values():
        unsupported.update({tuple(v): "unsupported" for v in meta.get("unsupported_variants", [])})
    outcome = RunOutcome(
        frame, code, message, engine_name=seen[1][0].get("engine_name", ""),
        cases=sum(m.get("cases", 0) for m, _, _ in seen.values()), unsupported=unsupported,
    )  # fmt: skip
    options = RunOptions(
        engine=first["engine"], suites=tuple(first["suites"]), cases=first["cases"],
        seed=first["seed"], max_nodes=first["max_nodes"], profile=first.get("profile", "quick"),
        steps=first.get("steps", RunOptions.steps), only=tuple(first.get("only", ())),
    )  # fmt: skip
    write_reports(outcome, options, out, extra_failure_files=copied)
    _atomic(out / "conformance.csv", lambda p: p.write_text(joined))  # the shards' own bytes
    return outcome
