"""`python -m conformance grade DIR`: many engines, the same cases, one comparison table.

Each `*.py` file in DIR that defines an engine class (one with a `backward` method whose instances
have `data` and `grad`, found by reading the file, not running it) is one engine; `--attr` names
the class instead; the other files are helper modules, listed apart. `--engine` adds more. Every
engine gets its own full reports in OUT/<name>/, and the comparison goes to OUT/grades.csv and
OUT/grades.html: engines as rows; the verdict, a headline with the most important finding, one
word per op (correct, wrong, missing, convention) and per suite, and the minimal reproducer.
"""

from __future__ import annotations

import ast
import json
import multiprocessing
import os
import re
import shutil
import signal
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
import pandas as pd

from conformance.cases.generate import op_variants
from conformance.checks.dtype_hint import suggestion
from conformance.core.options import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOTHING_CHECKED,
    EXIT_OK,
    RunOptions,
)
from conformance.core.records import DIFFERENCE_KINDS, PASSED, WRONG
from conformance.core.safetext import safe_csv_frame, safe_data, safe_text
from conformance.core.spec import SpecError
from conformance.core.tensor_graph import TENSOR_OPS
from conformance.core.tensors import LAYERS
from conformance.core.vocabulary import OPS
from conformance.engines import EngineLoadError
from conformance.report.writers import _atomic, prepare_out, write_reports
from conformance.run.pipeline import RunOutcome, run

__all__ = [
    "Roster",
    "engine_class",
    "engines_in",
    "exit_code",
    "grade",
    "grade_table",
    "headline",
    "layer_engines_in",
    "merge_grades",
    "op_verdicts",
    "shard_of",
    "write_grades",
]

# Names a student gives the engine class, most likely first: the pick when a file has several.
PREFERRED_NAMES = ("Value", "Scalar", "Var", "Tensor")
# Files that are helpers by their name: private modules and the student's own tests.
HELPER_PREFIXES = ("_", "test_")
# The words of the per-op and per-suite columns, and their colours in the HTML.
WORD_COLOURS = {
    "correct": "#d1f2d9",
    "wrong": "#f9c6c6",
    "missing": "#e0e0e0",
    "convention": "#fdf0c0",
}
# The verdict by the engine's exit code: the run's one-line message says more than a column needs.
VERDICTS = {
    EXIT_OK: "PASS",
    EXIT_FAILED: "FAIL",
    EXIT_NOTHING_CHECKED: "NOTHING CHECKED",
    EXIT_INTERRUPTED: "INTERRUPTED",
}
VERDICT_COLOURS = {"PASS": "#d1f2d9", "FAIL": "#f9c6c6", "COULD NOT LOAD": "#f9c6c6"}
# WRONG: wrong math where the row has no `kind`; xpass needs an xfail list.
# How long a finding may be in a headline (a traceback's first line is plenty).
HEADLINE_DETAIL = 160


@dataclass(frozen=True)
class Roster:
    """The engines in a folder (`FILE.py:CLASS`) and the helper files beside them, with why."""

    engines: tuple[str, ...]
    helpers: tuple[tuple[str, str], ...]


def _targets(node: ast.AST) -> Iterator[ast.expr]:
    """The names and attributes an assignment statement binds, tuples unpacked."""
    if isinstance(node, ast.Assign):
        stack = list(node.targets)
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        stack = [node.target]
    else:
        return
    while stack:
        target = stack.pop()
        if isinstance(target, (ast.Tuple, ast.List)):
            stack.extend(target.elts)
        elif isinstance(target, ast.Starred):
            stack.append(target.value)
        else:
            yield target


def _members(cls: ast.ClassDef) -> tuple[set[str], set[str]]:
    """(methods, attributes) a class body defines: `def`s, class-level names, `self.X = ...`."""
    methods: set[str] = set()
    attributes: set[str] = set()
    for stmt in cls.body:
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            methods.add(stmt.name)  # a @property `data` counts as much as an attribute
            if not stmt.args.args:
                continue
            me = stmt.args.args[0].arg  # `self` by convention, not by rule
            for node in ast.walk(stmt):
                for t in _targets(node):
                    if isinstance(t, ast.Attribute) and getattr(t.value, "id", None) == me:
                        attributes.add(t.attr)
        for t in _targets(stmt):  # dataclass fields; `backward = _backward` aliases
            if isinstance(t, ast.Name):
                methods.add(t.id)
                attributes.add(t.id)
    return methods, attributes


def engine_class(source: str | bytes) -> str | None:
    """The engine class a module's source defines, by reading it: a class with `backward` whose
    instances get `data` and `grad` (its own or from a class of the same file); None if none.

    Of several, the first of PREFERRED_NAMES, else the first in the file. SyntaxError or
    ValueError when the source does not parse.
    """
    tree = ast.parse(source)
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}

    def members(name: str, seen: frozenset[str] = frozenset()) -> tuple[set[str], set[str]]:
        methods, attributes = _members(classes[name])
        for base in classes[name].bases:
            if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
                more = members(base.id, seen | {name})
                methods |= more[0]
                attributes |= more[1]
        return methods, attributes

    found = []
    for name in classes:
        methods, attributes = members(name)
        if "backward" in methods and {"data", "grad"} <= attributes | methods:
            found.append(name)
    preferred = [n for n in PREFERRED_NAMES if n in found]
    return (preferred or found or [None])[0]


def _binds(statements: list[ast.stmt], name: str) -> bool:
    """Whether module-level code binds `name`: a class, a function, an assignment, `as NAME`."""
    for stmt in statements:
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if stmt.name == name:
                return True
        elif isinstance(stmt, (ast.Import, ast.ImportFrom)):
            # Only `import X as NAME` names an engine: a plain `from engine import Value` is how a
            # helper module uses the engine beside it.
            if any(a.asname == name for a in stmt.names):
                return True
        elif any(isinstance(t, ast.Name) and t.id == name for t in _targets(stmt)):
            return True
        elif isinstance(stmt, (ast.If, ast.Try, ast.With)):
            # `try: from fast import Value except ImportError: ...` binds at module level too
            inner = [*stmt.body, *getattr(stmt, "orelse", []), *getattr(stmt, "finalbody", [])]
            inner += [s for handler in getattr(stmt, "handlers", []) for s in handler.body]
            if _binds(inner, name):
                return True
    return False


def _candidates(folder: Path, helpers: list[tuple[str, str]]) -> Iterator[Path]:
    """`folder`'s `*.py` files in name order, but those a name marks as helpers (added to
    `helpers`, with why)."""
    for path in sorted(p for p in folder.glob("*.py") if p.is_file()):
        if path.name.startswith(HELPER_PREFIXES):
            helpers.append((str(path), "a helper by its name (_ or test_ prefix)"))
        else:
            yield path


def engines_in(folder: Path, attr: str | None = None) -> Roster:
    """The engines in `folder`'s `*.py` files, in name order, and the helper modules beside them.

    Without `attr`, each file's engine class is found by `engine_class`; with it, a file is an
    engine when it defines that name (or imports something `as` it). Files are read, never run
    here: a file that does not parse is an engine (its load fails and says why), so that no
    student's file silently disappears.
    """
    engines: list[str] = []
    helpers: list[tuple[str, str]] = []
    for path in _candidates(folder, helpers):
        try:
            source = path.read_bytes()
            if attr is None:
                found = engine_class(source)
                why = "no class with a backward() method and .data and .grad"
            else:
                found = attr if _binds(ast.parse(source).body, attr) else None
                why = f"defines no {attr!r}"
        except (SyntaxError, ValueError, OSError):
            found = attr or PREFERRED_NAMES[0]
        if found is None:
            helpers.append((str(path), why))
        else:
            engines.append(f"{path}:{found}")
    return Roster(tuple(engines), tuple(helpers))


def layer_engines_in(folder: Path) -> Roster:
    """The modules of layer functions in `folder`'s `*.py` files (each defining at least one of
    the layers suite's functions, found by reading the file), as `layers:FILE` engines."""
    from conformance.core.tensors import LAYERS

    wanted = {name for layer, spec in LAYERS.items() for name in spec.names(layer) if name}
    engines: list[str] = []
    helpers: list[tuple[str, str]] = []
    for path in _candidates(folder, helpers):
        try:
            body = ast.parse(path.read_bytes()).body
            defined = {s.name for s in body if isinstance(s, ast.FunctionDef | ast.ClassDef)}
            star = any(isinstance(s, ast.ImportFrom) and any(a.name == "*" for a in s.names)
                       for s in body)  # fmt: skip
        except (SyntaxError, ValueError, OSError):
            defined, star = wanted, False  # its load fails and says why: nobody disappears
        if defined & wanted or star:
            engines.append(f"layers:{path}")
        else:
            helpers.append((str(path), "defines none of the layer functions"))
    return Roster(tuple(engines), tuple(helpers))


def tensor_engines_in(folder: Path) -> Roster:
    """The tensor engines in `folder`'s `*.py` files (a class with backward(), .data and .grad,
    a `Tensor`, or a CONFORMANCE_TENSORS table, found by reading the file), as `tensors:FILE`
    engines (`tensors:FILE:CLASS` for a class of another name)."""
    engines: list[str] = []
    helpers: list[tuple[str, str]] = []
    for path in _candidates(folder, helpers):
        try:
            source = path.read_bytes()
            body = ast.parse(source).body
            found = engine_class(source)
            module = _binds(body, "Tensor") or _binds(body, "CONFORMANCE_TENSORS")
        except (SyntaxError, ValueError, OSError):
            found, module = None, True  # its load fails and says why: nobody disappears
        if module or found == "Tensor":
            engines.append(f"tensors:{path}")
        elif found is not None:
            engines.append(f"tensors:{path}:{found}")
        else:
            helpers.append((str(path), "no Tensor class (backward(), .data and .grad)"))
    return Roster(tuple(engines), tuple(helpers))


# The columns of grades.csv that hold a file's name or an engine's words (the rest are ours).
GRADE_TEXT_COLUMNS = ("engine", "headline", "conventions", "reproducer", "report")

# The names `grade` writes in OUT itself: no engine's report folder may take one.
OWN_FILES = ("grades.csv", "grades.html", "grades.json")
GRADES_KIND = "conformance-grades"  # grades.json: what `merge` reads to join grade shards


def _slug(engine: str) -> str:
    """A folder name from the engine's file stem: ASCII letters, digits, `_` and `-` only, so that
    `grades.csv.py` cannot become `grades.csv` and a non-UTF-8 name stays writable."""
    for prefix in ("layers:", "tensors:"):
        engine = engine.removeprefix(prefix)
    if ".py:" in engine:
        engine = engine.rpartition(":")[0]
    stem = Path(engine).stem if engine.endswith(".py") else engine
    return re.sub(r"[^A-Za-z0-9_-]+", "_", stem)[:80].strip("_") or "engine"


def report_folders(engines: Sequence[str]) -> dict[str, str]:
    """Each engine's report folder name in OUT: its slug, with `-2`, `-3`... where two slugs meet
    (`a-b.py`/`a_b.py`, or `Alice.py`/`alice.py` on a case-insensitive disk)."""
    taken = {name.casefold() for name in OWN_FILES}
    folders: dict[str, str] = {}
    for engine in engines:
        base = _slug(engine)
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        folders[engine] = name
    return folders


def _text(value: object) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


# The subjects a grade speaks of, in reading order: the scalar ops, then the layers (a layer
# engine's rows are about layers: affine's name is both), then a tensor engine's ops and its
# gradient bookkeeping (`accumulation`).
TENSOR_SUBJECTS = [*TENSOR_OPS, "accumulation"]
ORDER = [*OPS, *(layer for layer in LAYERS if layer not in OPS)]
ORDER += [op for op in TENSOR_SUBJECTS if op not in ORDER]


def _ops_of(row: pd.Series) -> tuple[str, ...]:
    """The vocabulary ops (or layers) a row speaks of: its blame where the diagnosis found one,
    else the op of a one-op case or the layer of a layer case; () for a graph nobody blamed, a
    neuron, a network."""
    blamed = tuple(op for op in _text(row["blame"]).split(",") if op in ORDER)
    if blamed:
        return blamed
    return (row["op"],) if row["op"] in ORDER else ()


def _is_convention(frame: pd.DataFrame) -> pd.Series:
    # Under --strict a convention gates as fail or error but keeps its `kind`: still no wrong math.
    return (frame["status"] == "differs") | (frame["kind"].fillna("") != "")


def _wrong_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["status"].isin(WRONG) & ~_is_convention(frame)]


def _wrong_ops(rows: pd.DataFrame) -> list[str]:
    """The ops the rows blame, the most blamed first. Where a row blames several ops (the diagnosis
    could not tell which), an op already blamed alone explains it; else all of them are suspect."""
    attributed = [_ops_of(r) for _, r in rows.iterrows()]
    counts = Counter(ops[0] for ops in attributed if len(ops) == 1)
    for ops in attributed:
        if len(ops) > 1 and not counts.keys() & set(ops):
            counts.update(ops)
    return sorted(counts, key=lambda op: (-counts[op], ORDER.index(op)))


def op_verdicts(frame: pd.DataFrame, unsupported: dict) -> dict[str, str]:
    """One word per vocabulary op: wrong, missing, convention, correct, or "" when not exercised.

    wrong: fail or error rows blamed on it (or in one-op cases of it); missing: the engine lacks
    it with every input a value (`x ** y`, whatever its forms with constants); convention: its only
    rows that are not passes differ from torch's conventions; correct: checked, none of these.
    """
    wrong = set(_wrong_ops(_wrong_rows(frame)))
    # The op itself is its all-variable form: `x ** y` is missing when only `x ** 1.7`, which is
    # powc to the engine, works; `2 - x` alone missing leaves sub there.
    variants: dict[str, list] = {}
    for variant in op_variants():
        if "c" not in variant[1]:
            variants.setdefault(variant[0], []).append(variant)
    conventions = {op for _, r in frame[_is_convention(frame)].iterrows() for op in _ops_of(r)}
    checked = set(frame.loc[frame["status"].isin(PASSED), "op"])
    layered = bool(len(frame)) and (frame["suite"] == "layers").all()
    tensored = bool(len(frame)) and (frame["suite"] == "tensors").all()
    missing = (
        set(frame.loc[frame["detail"].str.startswith("missing: "), "op"]) if layered else set()
    )
    if tensored:  # an op the probe found missing in every form
        forms = {op: [(op, f) for f in t.forms] for op, t in TENSOR_OPS.items()}
        missing = {op for op, fs in forms.items() if all(f in unsupported for f in fs)}
    subjects = LAYERS if layered else TENSOR_SUBJECTS if tensored else OPS
    words = {}
    for op in subjects:
        if op in wrong:
            words[op] = "wrong"
        elif op in missing or (
            not (layered or tensored) and all(v in unsupported for v in variants.get(op, []))
        ):
            words[op] = "missing"
        elif op in conventions:
            words[op] = "convention"
        elif op in checked:
            words[op] = "correct"
        else:
            words[op] = ""
    return words


def _suite_word(rows: pd.DataFrame) -> str:
    if len(_wrong_rows(rows)):
        return "wrong"
    if _is_convention(rows).any():
        return "convention"
    if rows["status"].isin(PASSED).any():
        return "correct"
    return "missing" if (rows["status"] == "skip").any() else ""


def _some(names: Sequence[str], most: int = 4) -> str:
    """A few names and how many more: the op columns list them all."""
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def _kinds(conventions: pd.DataFrame) -> list[str]:
    """The kinds of difference among the rows, in DIFFERENCE_KINDS' order ("" for none given)."""
    present = set(conventions["kind"].fillna(""))
    order = [*DIFFERENCE_KINDS, *sorted(present - set(DIFFERENCE_KINDS))]
    return [kind for kind in order if kind in present]


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= HEADLINE_DETAIL else text[: HEADLINE_DETAIL - 1] + "…"


def _explain(outcome: RunOutcome, rows: pd.DataFrame, op: str | None) -> str:
    """What went wrong with `op` (or with the first row when no op is named): the hint of its
    minimal reproducer where there is one, else of its rows, else the first row's detail."""
    if op is not None:
        rows = rows[[op in _ops_of(r) for _, r in rows.iterrows()]]
        failures = [f for f in outcome.failures if op in f.key[0].split(",")]
        hints = [r.hint for f in failures for r in f.rows if r.hint]
        if hints:
            return _short(hints[0])
    hints = [h for h in rows["hint"].map(_text) if h]
    return _short(hints[0] if hints else _text(rows["detail"].iloc[0]))


def headline(outcome: RunOutcome, verdicts: dict[str, str] | None = None) -> str:
    """The engine's most important finding: that it computes in float32 and needs --dtype
    (every row fails by its rounding otherwise), else wrong gradients, else errors, else
    conventions."""
    frame = outcome.frame
    hint = suggestion(frame) if "numbers look like" in outcome.message else None
    if hint is not None:
        return hint[0].upper() + hint[1:]
    verdicts = verdicts if verdicts is not None else op_verdicts(frame, outcome.unsupported)
    missing = [op for op, word in verdicts.items() if word == "missing"]
    wrong = _wrong_rows(frame)
    findings = []  # (label, the ops or case it names, why), wrong gradients before errors
    for status, label in (("fail", "wrong"), ("error", "error in")):
        rows = wrong[wrong["status"] == status]
        if len(rows):
            ops = _wrong_ops(rows)
            # No op to name (a neuron, a network, a graph nobody could blame): name the case's op.
            subjects = ops or [rows["op"].iloc[0]]
            findings.append((label, subjects, _explain(outcome, rows, ops[0] if ops else None)))
    if findings:
        (label, subjects, why), rest = findings[0], findings[1:]
        also = [f"{label} {_some(subjects[1:])}"] if len(subjects) > 1 else []
        also += [f"{more} {_some(ops)}" for more, ops, _ in rest]
        return f"{label} {subjects[0]}: {why}" + (f" (also {'; '.join(also)})" if also else "")
    conventions = frame[_is_convention(frame)]
    if len(conventions):
        parts = []
        for kind in _kinds(conventions):
            rows = conventions[conventions["kind"].fillna("") == kind]
            ops = sorted({op for _, r in rows.iterrows() for op in _ops_of(r)}, key=ORDER.index)
            parts.append(f"{kind or 'other'} ({', '.join(ops)})" if ops else kind or "other")
        text = "conventions differ from torch: " + ", ".join(parts)
    elif outcome.exit_code == EXIT_NOTHING_CHECKED:
        text = "nothing checked: " + outcome.message
    else:
        text = "correct"
    return text + (f"; missing: {', '.join(missing)}" if missing else "")


def _grade_one(engine: str, options: RunOptions, folder: Path) -> tuple[dict, bool]:
    """One engine's row of the table (reports in `folder`), and whether it was interrupted."""
    row: dict = {"engine": engine}
    try:
        prepare_out(folder)
        outcome = run(replace(options, engine=engine, out=str(folder)))
        paths = write_reports(outcome, replace(options, engine=engine), folder)
    except EngineLoadError as exc:
        # A student's file that cannot load fails the class, like wrong math: not a usage error.
        # Whole: the cause comes last, after the file's path.
        row.update(verdict="COULD NOT LOAD", headline=f"could not load: {exc}")
        row["exit_code"] = EXIT_FAILED
        return row, False
    frame = outcome.frame
    verdicts = op_verdicts(frame, outcome.unsupported)
    verdict = VERDICTS.get(outcome.exit_code, outcome.message.split(":")[0])
    row.update(verdict=verdict, headline=headline(outcome, verdicts))
    row.update((f"op:{op}", word) for op, word in verdicts.items())
    for suite in options.suites:
        row[f"suite:{suite}"] = _suite_word(frame[frame["suite"] == suite])
    row["conventions"] = ", ".join(k for k in _kinds(frame[_is_convention(frame)]) if k)
    row["reproducer"] = str(paths["failures"][0]) if paths["failures"] else ""
    row["report"] = str(paths["html"])
    row["exit_code"] = outcome.exit_code
    return row, outcome.interrupted


def shard_of(engines: Sequence[str], shard: tuple[int, int] | None) -> list[str]:
    """The engines of shard K of N: a contiguous slice of the roster, as `run --shard` slices
    cases (every engine in exactly one shard; `merge` puts the tables back in roster order)."""
    if shard is None:
        return list(engines)
    k, n = shard
    return list(engines[(k - 1) * len(engines) // n : k * len(engines) // n])


def grade(
    engines: Sequence[str],
    options: RunOptions,
    out: Path,
    progress: Callable[[str, dict], None] | None = None,
    helpers: Sequence[tuple[str, str]] = (),
    jobs: int = 1,
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Check every engine (of `shard`, when given) on the same cases; write the comparison; return
    it. `jobs` engines are checked at once, each in its own process; rows keep roster order.

    Ctrl-C stops after the engines being checked: the table so far is written, and the first
    engine that did not finish has `exit_code` 130.
    """
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    folders = report_folders(engines)  # over the whole roster: unique across shards too
    mine = shard_of(engines, shard)
    graded = _graded(mine, options, out, folders, jobs)
    for engine, (row, interrupted) in zip(mine, graded):
        # File names and engine messages are outside text: safe for the table, its page and the
        # progress line alike (a non-UTF-8 file name must not crash the print).
        row = safe_data(row)
        rows.append(row)
        if progress is not None:
            progress(safe_text(engine), row)
        if interrupted:
            break
    table = grade_table(rows)
    write_grades(table, options, out, helpers)
    meta = {
        "kind": GRADES_KIND,
        "options": replace(options, out=str(out), shard=None).to_dict(),
        "shard": list(shard) if shard else None,
        "engines": [safe_text(e) for e in engines],
        "helpers": [list(h) for h in helpers],
    }
    text = safe_text(json.dumps(meta, indent=2, ensure_ascii=False)) + "\n"
    _atomic(out / "grades.json", lambda p: p.write_text(text, encoding="utf-8"))
    return table


def _interrupted(engine: str) -> tuple[dict, bool]:
    row = {"engine": engine, "verdict": "INTERRUPTED", "headline": "interrupted"}
    row["exit_code"] = EXIT_INTERRUPTED
    return row, True


def _graded(
    engines: list[str], options: RunOptions, out: Path, folders: dict[str, str], jobs: int
) -> Iterator[tuple[dict, bool]]:
    """Each engine's (row, interrupted), in roster order: here one by one, or in `jobs` worker
    processes (each engine's run then checks with one job: the processes share the cores)."""
    if jobs <= 1 or len(engines) <= 1:
        for engine in engines:
            try:
                yield _grade_one(engine, options, out / folders[engine])
            except KeyboardInterrupt:  # outside the run itself (its reports were being written)
                yield _interrupted(engine)
        return
    one = replace(options, jobs=1)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(jobs, len(engines)), mp_context=context) as pool:
        futures = [pool.submit(_grade_one, e, one, out / folders[e]) for e in engines]
        for engine, future in zip(engines, futures):
            try:
                yield future.result()
            except KeyboardInterrupt:
                # The workers' runs stop as on Ctrl-C (rows so far written), then the pool ends.
                for pending in futures:
                    pending.cancel()
                for process in list(getattr(pool, "_processes", {}).values()):
                    if process.is_alive():
                        os.kill(process.pid, signal.SIGINT)
                yield _interrupted(engine)
                return
            except Exception as exc:  # a worker that died (killed, out of memory)
                row = {"engine": engine, "verdict": "ERROR", "headline": f"grading stopped: {exc}"}
                row["exit_code"] = EXIT_FAILED
                yield row, False


def grade_table(rows: list[dict]) -> pd.DataFrame:
    """The rows as the comparison table, its columns in reading order."""
    table = pd.DataFrame(rows)
    # What a teacher reads first: the verdict and the most important finding; then op by op.
    first = ["engine", "verdict", "headline"]
    named = {c[3:] for c in table.columns if c.startswith("op:")}
    subjects = OPS if named <= set(OPS) else LAYERS if named <= set(LAYERS) else TENSOR_SUBJECTS
    ops = [f"op:{op}" for op in subjects if op in named]
    last = ["conventions", "reproducer", "report", "exit_code"]
    middle = [c for c in table.columns if c not in first + ops + last]
    return table.reindex(columns=first + ops + middle + last)


def write_grades(
    table: pd.DataFrame, options: RunOptions, out: Path, helpers: Sequence[tuple[str, str]]
) -> None:
    """OUT/grades.csv and OUT/grades.html, each written whole or not at all."""
    # File names and engine messages are outside text: a lone surrogate (a non-UTF-8 file name)
    # must not lose the table, nor a file named `=cmd.py` run as a spreadsheet formula.
    csv_table = safe_csv_frame(table, GRADE_TEXT_COLUMNS)
    _atomic(out / "grades.csv", lambda p: csv_table.to_csv(p, index=False, lineterminator="\n"))
    page = safe_text(_html(table, options, helpers, out))
    _atomic(out / "grades.html", lambda p: p.write_text(page, encoding="utf-8"))


def exit_code(table: pd.DataFrame) -> int:
    """The run's exit code: 0 every engine passes, 3 none checked anything, 130 interrupted,
    else 1 (an engine that fails, cannot load or checks nothing fails the class)."""
    codes = set(table["exit_code"].astype(int)) if len(table) else {EXIT_NOTHING_CHECKED}
    if EXIT_INTERRUPTED in codes:
        return EXIT_INTERRUPTED
    if codes == {EXIT_OK}:
        return EXIT_OK
    if codes == {EXIT_NOTHING_CHECKED}:
        return EXIT_NOTHING_CHECKED
    return EXIT_FAILED


_PAGE = jinja2.Environment(autoescape=True).from_string("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grades</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; font-size: 0.85em; }
td, th { border: 1px solid #ccc; padding: 0.2em 0.4em; vertical-align: top; }
{% for word, colour in colours.items() %}.{{ css[word] }} { background: {{ colour }}; }
{% endfor %}</style></head><body>
<h1>Grades: {{ rows | length }} engines, the same cases</h1>
<p>Seed {{ options.seed }}, {{ options.cases }} random graphs,
suites {{ options.suites | join(", ") }}.
The headline is each engine's most important finding: wrong gradients first, then errors, then
differences from torch's conventions. Each op is <span class="w-correct">correct</span>,
<span class="w-wrong">wrong</span> (failing rows blamed on it),
<span class="w-missing">missing</span> (the engine lacks it) or
<span class="w-convention">convention</span> (it differs from torch only by convention);
blank where no case exercised it. Each engine's full report is linked in the last column.</p>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for c in columns %}{% set v = row[c] %}
{%- if c == "report" and v %}<td><a href="{{ row["href"] }}">report</a></td>
{%- elif v in colours %}<td class="{{ css[v] }}">{{ v }}</td>
{%- else %}<td>{{ v }}</td>{% endif %}{% endfor %}</tr>
{% endfor %}</table>
{% if helpers %}<h2>Helper modules, no engine</h2>
<ul>{% for path, why in helpers %}<li>{{ path }}: {{ why }}</li>{% endfor %}</ul>{% endif %}
</body></html>
""")


def _html(
    table: pd.DataFrame, options: RunOptions, helpers: Sequence[tuple[str, str]], out: Path
) -> str:
    columns = [c for c in table.columns if c != "exit_code"]
    # An op no engine exercised (a suite selection without it) is a column of blanks: left out.
    columns = [c for c in columns if not c.startswith("op:") or table[c].fillna("").any()]
    rows = [{c: _text(row[c]) for c in columns} for _, row in table.iterrows()]
    for row in rows:  # relative to the page: the folder stays browsable wherever it is moved
        row["href"] = os.path.relpath(row["report"], out) if row.get("report") else ""
    colours = {**WORD_COLOURS, **VERDICT_COLOURS}
    css = {word: "w-" + word.lower().replace(" ", "-") for word in colours}
    return _PAGE.render(
        rows=rows, columns=columns, options=options, helpers=helpers, colours=colours, css=css
    )


def merge_grades(folders: Sequence[Path], out: Path) -> pd.DataFrame:
    """Join the tables of `grade --shard K/N` runs into OUT, as one `grade` would have written
    it: rows in roster order, each engine's report folder copied in. Everything is read and
    checked first; SpecError (one line) for a folder that is not a shard or does not belong."""
    shards = [(Path(f), _grade_meta(Path(f))) for f in folders]
    first = shards[0][1]
    for folder, meta in shards[1:]:
        if _shared(meta["options"]) != _shared(first["options"]):
            raise SpecError(f"{folder}: graded with other options than {shards[0][0]}")
        if meta["engines"] != first["engines"]:
            raise SpecError(f"{folder}: graded another roster of engines than {shards[0][0]}")
    numbers = sorted(tuple(meta["shard"] or (1, 1)) for _, meta in shards)
    total = numbers[0][1]
    if numbers != [(k, total) for k in range(1, total + 1)]:
        got = ", ".join(f"{k}/{n}" for k, n in numbers)
        raise SpecError(f"the shards are {got}: give each of 1/{total}..{total}/{total} once")
    shards.sort(key=lambda s: tuple(s[1]["shard"] or (1, 1)))
    tables = []
    for folder, _ in shards:
        try:
            tables.append(pd.read_csv(folder / "grades.csv", keep_default_na=False, na_values=[""]))
        except (OSError, ValueError, pd.errors.ParserError) as exc:
            raise SpecError(f"{folder / 'grades.csv'}: {str(exc).splitlines()[0]}") from None
    out.mkdir(parents=True, exist_ok=True)
    for (folder, _), table in zip(shards, tables):
        for column in ("report", "reproducer"):
            table[column] = [_moved(_text(cell), folder, out) for cell in table[column]]
    table = grade_table([row for t in tables for row in t.to_dict("records")])
    options = RunOptions.from_dict(first["options"])
    write_grades(table, options, out, [tuple(h) for h in first["helpers"]])
    meta = {**first, "shard": None, "options": replace(options, out=str(out)).to_dict()}
    text = json.dumps(meta, indent=2, ensure_ascii=False) + "\n"
    _atomic(out / "grades.json", lambda p: p.write_text(text, encoding="utf-8"))
    return table


def _shared(options: dict) -> dict:
    """The options shards of one grade must share: all but where each wrote and how fast."""
    return {k: v for k, v in options.items() if k not in ("out", "jobs", "shard")}


def _grade_meta(folder: Path) -> dict:
    path = folder / "grades.json"
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError(f"{path}: not the output of `grade` ({str(exc).splitlines()[0]})") from None
    if not isinstance(meta, dict) or meta.get("kind") != GRADES_KIND:
        raise SpecError(f"{path}: not the output of `grade`")
    try:
        RunOptions.from_dict(meta["options"])
        assert isinstance(meta["engines"], list) and isinstance(meta["helpers"], list)
    except (KeyError, ValueError, AssertionError) as exc:
        raise SpecError(f"{path}: not the output of `grade` ({exc})") from None
    return meta


def _moved(cell: str, folder: Path, out: Path) -> str:
    """A report or reproducer path inside a shard's engine folder, copied to the same place in
    OUT; the new path. A path outside the shard's folder is kept as it is."""
    if not cell:
        return cell
    path = Path(cell)
    try:
        inside = path.resolve().relative_to(folder.resolve())
    except ValueError:
        return cell
    engine_folder = inside.parts[0]
    target = out / engine_folder
    if (folder / engine_folder).resolve() != target.resolve():
        shutil.copytree(folder / engine_folder, target, dirs_exist_ok=True)
    return str(out / inside)
