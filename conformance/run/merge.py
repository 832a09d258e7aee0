"""`python -m conformance merge DIR...`: join the outputs of `--shard K/N` runs into one report.

The shards are contiguous slices of the same case list, so their CSV rows, joined in shard order,
are the unsharded run's CSV, byte for byte. The other reports are made again from the joined rows;
the shards' reproducer files are copied over.
"""

from __future__ import annotations

import io
import json
import shutil
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path

import pandas as pd

from conformance.core.options import PROFILES, SUITE_NAMES, RunOptions
from conformance.core.records import COLUMNS, read_frame
from conformance.core.spec import SpecError
from conformance.report.writers import _atomic, prepare_out, write_reports
from conformance.run.pipeline import RunOutcome, verdict

__all__ = ["merge"]

# Options that must agree between shards (jobs, timeouts and the like may differ: the merged
# run.json keeps the first shard's). Each must be in a shard's run.json but those with a default,
# which an older run.json may lack.
SAME = ("engine", "suites", "cases", "seed", "max_nodes", "profile", "steps", "only", "strict")
_REQUIRED = ("engine", "suites", "cases", "seed", "max_nodes")
MISSING_LISTED = 5  # shards named in a "missing" message; the rest are counted


@dataclass(frozen=True)
class _Shard:
    """One shard's output, read whole and checked: nothing is written before all are."""

    folder: Path
    meta: dict
    options: dict  # the options of SAME, defaults filled in
    run_options: RunOptions  # all of them, as the shard's run.json has them
    k: int
    n: int
    text: str  # conformance.csv, as written
    failures: tuple[Path, ...]  # the regular files of failures/ (never a link)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _read_meta(folder: Path) -> dict:
    path = folder / "run.json"
    if path.is_symlink() or not path.is_file():
        raise SpecError(f"{folder}: not a finished run's output (no run.json)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:  # UnicodeDecodeError is a ValueError
        raise SpecError(f"{path}: cannot read it: {exc}".splitlines()[0]) from None
    except RecursionError:  # `[[[[...]]]]` thousands deep
        raise SpecError(f"{path}: cannot read it: JSON nested too deeply") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("options"), dict):
        raise SpecError(f"{path} is not a run's record")
    if meta.get("interrupted"):
        raise SpecError(f"{folder}: that shard was interrupted; run it again")
    return meta


def _options(meta: dict, folder: Path) -> RunOptions:
    """The shard's options, checked for type, so that a garbled run.json is refused here rather
    than failing while the reports are written."""
    raw = meta["options"]
    for key in _REQUIRED:
        if key not in raw:
            raise SpecError(f"{folder}/run.json: options.{key} is missing")
    try:
        options = RunOptions.from_dict(raw)
    except ValueError as exc:
        raise SpecError(f"{folder}/run.json: {exc}") from None
    opts = options.to_dict()
    unknown = [s for s in opts["suites"] if s not in SUITE_NAMES]
    if unknown or not opts["suites"] or opts["profile"] not in PROFILES:
        raise SpecError(f"{folder}/run.json: unknown suites or profile: not this version's run")
    variants = meta.get("unsupported_variants", [])
    if not isinstance(variants, list) or not all(
        isinstance(v, list) and len(v) == 3 for v in variants
    ):
        raise SpecError(
            f"{folder}/run.json: unsupported_variants is not a list of [op, pattern, param]"
        )
    if not _is_int(meta.get("cases", 0)) or not isinstance(meta.get("engine_name", ""), str):
        raise SpecError(f"{folder}/run.json: cases or engine_name is garbled")
    return options


def _shard_of(meta: dict, folder: Path) -> tuple[int, int]:
    shard = meta["options"].get("shard")
    if not shard:
        raise SpecError(f"{folder}: not shard K/N (run with --shard K/N)")
    if not (
        isinstance(shard, list) and len(shard) == 2 and all(map(_is_int, shard))
        and 1 <= shard[0] <= shard[1]
    ):  # fmt: skip
        raise SpecError(f"{folder}/run.json: shard {shard!r:.40} is not K/N with 1 <= K <= N")
    return shard[0], shard[1]


def _csv(folder: Path) -> str:
    path = folder / "conformance.csv"
    if path.is_symlink() or not path.is_file():
        raise SpecError(f"{folder}: not a finished run's output (no conformance.csv)")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: cannot read it: {exc}".splitlines()[0]) from None
    if not text.startswith(",".join(COLUMNS) + "\n"):
        raise SpecError(f"{path} has other columns than this version's")
    return text


def _failures(folder: Path) -> tuple[Path, ...]:
    """The reproducer files, regular files only: a link may point anywhere, so it is skipped."""
    src = folder / "failures"
    if src.is_symlink() or not src.is_dir():
        return ()
    try:
        return tuple(f for f in sorted(src.iterdir()) if not f.is_symlink() and f.is_file())
    except OSError as exc:
        raise SpecError(f"{src}: cannot list it: {exc}") from None


def _load(folder: Path) -> _Shard:
    """One shard, checked whole; SpecError (one line) for anything amiss."""
    if not folder.is_dir():
        raise SpecError(f"{folder}: not a finished run's output (no such folder)")
    meta = _read_meta(folder)
    options = _options(meta, folder)
    k, n = _shard_of(meta, folder)
    same = {key: value for key, value in options.to_dict().items() if key in SAME}
    return _Shard(folder, meta, same, options, k, n, _csv(folder), _failures(folder))


def _same_folder(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _check(shards: list[_Shard], out: Path) -> list[_Shard]:
    """The shards in order 1..N, each exactly once, all from the same options; SpecError else."""
    first = shards[0]
    n = first.n
    seen: dict[int, _Shard] = {}
    for shard in shards:
        if shard.n != n:
            raise SpecError(f"{shard.folder}: not shard K/{n} (run with --shard K/{n})")
        for key in SAME:
            if shard.options[key] != first.options[key]:
                now, then = shard.options[key], first.options[key]
                raise SpecError(f"{shard.folder}: {key} is {now!r:.60}, not {then!r:.60}")
        if shard.k in seen:
            raise SpecError(f"{shard.folder}: shard {shard.k}/{n} given twice")
        seen[shard.k] = shard
        if _same_folder(shard.folder, out):
            raise SpecError(
                f"--out {str(out)!r} is one of the shards: the merge would overwrite it"
            )
    if len(seen) < n:  # N may be anything a run.json says: name a few, count the rest
        missing = islice((k for k in range(1, n + 1) if k not in seen), MISSING_LISTED)
        names = ", ".join(f"{k}/{n}" for k in missing)
        left = n - len(seen) - MISSING_LISTED
        more = f" and {left:,} more" if left > 0 else ""
        raise SpecError(f"shards {names}{more} are missing")
    return [seen[k] for k in range(1, n + 1)]


def _failure_key(path: Path) -> object:
    """A reproducer's distinct failure, (op, check, status); its file name when unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return ("key", data["op"], data["check"], data["status"])
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        return ("file", path.name)


def _distinct_failures(ordered: list[_Shard]) -> dict[str, Path]:
    """The reproducer files to copy, by name: one per distinct failure, the first shard's, since
    two shards that find the same failure each shrink it to a case of their own."""
    keys: set[object] = set()
    sources: dict[str, Path] = {}
    for shard in ordered:
        stems = {f.stem for f in shard.failures if f.suffix == ".json"}
        skip = set()
        for stem in sorted(stems):
            key = _failure_key(shard.folder / "failures" / f"{stem}.json")
            if key in keys:
                skip.add(stem)
            keys.add(key)
        for f in shard.failures:
            if f.stem not in skip:
                sources.setdefault(f.name, f)
    return sources


def merge(folders: list[Path], out: Path) -> RunOutcome:
    """Check the shards belong together and are complete, then write the joined reports.
    Everything is read and checked before anything in `out` is removed or written."""
    ordered = _check([_load(f) for f in folders], out)
    header = ",".join(COLUMNS) + "\n"
    joined = header + "".join(shard.text[len(header) :] for shard in ordered)
    try:
        frame = read_frame(io.StringIO(joined))
    except (ValueError, pd.errors.ParserError) as exc:
        why = f"the shards' conformance.csv rows do not parse: {exc}".splitlines()[0]
        raise SpecError(why) from None
    if list(frame.columns) != list(COLUMNS):
        raise SpecError("the shards' conformance.csv rows have other columns than this version's")
    sources = _distinct_failures(ordered)
    options = replace(ordered[0].run_options, shard=None, out=str(out))

    prepare_out(out)
    copied = []
    for name, src in sources.items():  # the reproducers, each shard's own
        (out / "failures").mkdir(exist_ok=True)
        shutil.copyfile(src, out / "failures" / name, follow_symlinks=False)
        if src.suffix == ".json":
            copied.append(out / "failures" / name)
    code, message = verdict(frame, dtype=options.dtype)
    unsupported: dict = {}
    for shard in ordered:
        unsupported.update(
            {tuple(v): "unsupported" for v in shard.meta.get("unsupported_variants", [])}
        )
    outcome = RunOutcome(
        frame, code, message, engine_name=ordered[0].meta.get("engine_name", ""),
        cases=sum(s.meta.get("cases", 0) for s in ordered), unsupported=unsupported,
    )  # fmt: skip
    write_reports(outcome, options, out, extra_failure_files=copied)
    _atomic(out / "conformance.csv", lambda p: p.write_text(joined))  # the shards' own bytes
    return outcome
