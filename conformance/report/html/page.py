"""DIR/conformance.html: one self-contained page, readable without a network or a script.

Everything is inline: the style sheet, the plots and the graph drawings (SVG, drawn in Python by
`plots` and `graph_svg`). A Content-Security-Policy forbids the page any fetch at all. Tables are
pandas Stylers with a class per cell, so the colours live in the one style sheet.

The page, top to bottom: the verdict; what changed against a baseline; counts by suite with the
distribution of errors; the lecture's worked example; each distinct failure with its minimal graph
drawn, the engine's numbers beside torch's; the training loss curves; coverage; counts by op; and
every row that did not pass.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from html import escape
from pathlib import Path

import pandas as pd
from pandas.io.formats.style import Styler

from conformance.checks.training import ENVELOPE, training_table
from conformance.core.records import DIFFERENCE_KINDS, FAILING, STATUSES
from conformance.failures.reproducers import replay_command
from conformance.report.baseline import LISTED
from conformance.report.html.charts import (
    BLUE,
    GREEN,
    RED,
    Series,
    line_chart,
    log_histogram,
    number,
)
from conformance.report.html.graph import MAX_DRAWN_NODES, draw_graph
from conformance.report.html.neurons import seed_section

__all__ = ["CSP", "MAX_ROWS", "render"]

MAX_ROWS = 500  # rows that did not pass, shown in the page (the CSV has all)
BASELINE_ROWS = 20  # rows of each list against the baseline
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_ROW_COLUMNS = (
    "suite", "case", "check", "node", "op", "expected", "actual", "fd", "tolerance", "status",
    "detail", "reproduce",
)  # fmt: skip

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 0; }
main { max-width: 1320px; margin: 0 auto; padding: 1.2em 2em 4em; }
h1 { font-size: 1.55em; margin: 0.2em 0 0.4em; }
h2 { font-size: 1.2em; border-bottom: 1px solid #d0d7de; padding-bottom: 0.2em; margin-top: 2em; }
h3 { font-size: 1.02em; margin: 0 0 0.4em; }
nav { margin: 0.6em 0 0; font-size: 0.92em; }
nav a { margin-right: 1.1em; color: #0969da; text-decoration: none; }
.banner { padding: 0.6em 1em; border-radius: 6px; font-size: 1.2em; font-weight: 600; }
.banner.ok { background: #dafbe1; color: #1a7f37; border: 1px solid #4ac26b; }
.banner.bad { background: #ffebe9; color: #cf222e; border: 1px solid #ff8182; }
.meta, .note { color: #59636e; }
table { border-collapse: collapse; font-size: 0.88em; margin: 0.5em 0; }
th, td { border: 1px solid #d0d7de; padding: 0.2em 0.55em; vertical-align: top; text-align: left; }
th { background: #f6f8fa; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.zero { color: #afb8c1; }
td.pass { color: #1a7f37; }
td.bad { background: #ffebe9; color: #cf222e; font-weight: 600; }
td.warn { color: #9a6700; }
td.detail { min-width: 26em; }
td.id { white-space: nowrap; }
td.cmd { font-family: ui-monospace, monospace; font-size: 0.85em; }
code { font-family: ui-monospace, monospace; font-size: 0.9em; }
.cmd { background: #f6f8fa; border: 1px solid #d0d7de; padding: 0.15em 0.4em; border-radius: 4px; }
.plots { display: flex; flex-wrap: wrap; gap: 1.2em; align-items: flex-start; }
.plots figure { margin: 0; width: 440px; }
figcaption { font-size: 0.9em; color: #59636e; }
.card { border: 1px solid #d0d7de; border-left: 4px solid #cf222e; border-radius: 6px;
        padding: 0.8em 1em; margin: 1em 0; }
.card.error { border-left-color: #9a6700; }
.drawing { overflow-x: auto; margin: 0.6em 0; }
.card p > code { overflow-wrap: anywhere; }
.scroll { overflow-x: auto; }
ul.rows { margin: 0.3em 0; padding-left: 1.3em; }
"""


def _num(x: object) -> str:
    return "" if x is None or pd.isna(x) else number(float(x))


def _table(frame: pd.DataFrame, classes: pd.DataFrame, uuid: str, formats: dict) -> str:
    """`frame` as an HTML table: cells escaped, numbers formatted, a class per cell."""
    styler = Styler(frame, uuid=uuid, cell_ids=False)
    styler = styler.hide(axis="index").format(escape="html", na_rep="")
    for column, fmt in formats.items():
        styler = styler.format(fmt, subset=[column], escape="html", na_rep="")
    text = styler.set_td_classes(classes).to_html()
    return text.replace('<style type="text/css">\n</style>\n', "")  # empty: classes only


def _status_classes(frame: pd.DataFrame, numeric: Sequence[str] = ()) -> pd.DataFrame:
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for col in numeric:
        classes[col] = "num"
    if "status" in frame.columns:
        classes["status"] = frame["status"].map(_status_class).fillna("")
    for col in ("detail", "first_wrong", "hint"):
        if col in frame.columns:
            classes[col] = "detail"
    if "reproduce" in frame.columns:
        classes["reproduce"] = "cmd"
    if "case" in frame.columns:
        classes["case"] = "id"
    return classes


def _status_class(status: object) -> str:
    if status in FAILING:
        return "bad"
    return {"pass": "pass", "unverified": "warn", "skip": "warn", "xfail": "warn"}.get(
        str(status), ""
    )


def _count_table(frame: pd.DataFrame, uuid: str) -> str:
    """Counts by status (columns named like the statuses): zeros grey, failures red."""
    classes = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for col in frame.columns:
        if col in STATUSES or col in ("rows", "cases"):
            zero = frame[col] == 0
            bad = col in FAILING
            good = "pass" if col == "pass" else ("warn" if col in STATUSES else "")
            tag = "bad" if bad else good
            classes[col] = ("num " + zero.map({True: "zero", False: tag})).str.strip()
    formats = {c: "{:,}" for c in frame.columns if c in STATUSES or c in ("rows", "cases")}
    return _table(frame, classes, uuid, formats)


def _by_suite(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.groupby(["suite", "status"], sort=False).size().unstack(fill_value=0)
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table.insert(0, "cases", frame.groupby("suite", sort=False)["case"].nunique())
    table["rows"] = table[list(STATUSES)].sum(axis=1)
    table.loc["all"] = table.sum()
    table.loc["all", "cases"] = frame["case"].nunique()
    table.columns.name = None
    return table.rename_axis("suite").reset_index()


def _header(meta: dict) -> str:
    ok = meta["exit_code"] == 0
    opts = meta.get("options", {})
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    suites = ", ".join(opts.get("suites", []))
    line = (
        f"{meta.get('cases', 0):,} cases, {meta.get('rows', 0):,} rows in "
        f"{meta.get('elapsed_s', 0):.1f} s · seed {opts.get('seed')} · suites {suites} · "
        f"{versions}"
    )
    return (
        f"<h1>Backprop conformance: {escape(meta['engine'])}</h1>"
        f'<p class="banner {"ok" if ok else "bad"}">{escape(meta["verdict"])}</p>'
        f'<p class="meta">{escape(line)}</p>'
        f'<details><summary class="meta">every option</summary><pre>'
        f"{escape(json.dumps(opts, indent=1))}</pre></details>"
    )


def _baseline_section(comparison) -> str:
    if comparison is None:
        return ""
    parts = [
        '<h2 id="baseline">Against the baseline</h2>',
        f"<p><b>{escape(comparison.summary())}</b> ({comparison.compared:,} rows in both runs)."
        "</p>",
    ]
    parts += [f'<p class="note">{escape(n)}.</p>' for n in comparison.notes]
    lists = (
        ("New failures", comparison.new_failures, "nothing fails now that passed before"),
        ("Fixed", comparison.fixed, "nothing that failed before passes now"),
        (
            "Errors grown",
            comparison.grown,
            "no error grew more than twofold to a tenth of its tolerance or more",
        ),
    )
    for title, frame, none in lists:
        if frame.empty:
            parts.append(f"<p><b>{title}</b>: {none}.</p>")
            continue
        shown = frame.head(BASELINE_ROWS).copy()
        # The diagnosis is in the failure cards below; here, what is wrong with each row.
        shown["detail"] = shown["detail"].astype(str).str.split("; first wrong: ").str[0]
        if "of_tolerance" in shown.columns:
            shown = shown.rename(columns={"of_tolerance": "of tolerance"})
        classes = pd.DataFrame("", index=shown.index, columns=shown.columns)
        for c in ("before", "now"):
            classes[c] = shown[c].map(_status_class).fillna("")
        classes["detail"] = "detail"
        classes["case"] = "id"
        formats = {c: _num for c in ("growth", "of tolerance") if c in shown.columns}
        for c in formats:
            classes[c] = "num"
        more = (
            f"<p class='note'>and {len(frame) - len(shown):,} more (run.json lists the first "
            f"{LISTED}).</p>"
            if len(frame) > len(shown)
            else ""
        )
        uuid = "b" + title.split()[0].lower()
        parts.append(f"<h3>{title} ({len(frame):,})</h3>")
        parts.append(f'<div class="scroll">{_table(shown, classes, uuid, formats)}</div>{more}')
    return "\n".join(parts)


def _error_plots(frame: pd.DataFrame) -> str:
    """Where the errors fall: as a fraction of the tolerance, and in ULP of torch's number."""
    compared = frame[frame["check"].isin(("value", "grad", "loss"))] if len(frame) else frame
    judged = compared[compared["status"].isin(("pass", "fail", "xfail", "xpass"))]
    with_tol = judged[(judged["tolerance"] > 0) & judged["abs_err"].notna()]
    ratio = (with_tol["abs_err"] / with_tol["tolerance"]).tolist()
    ulps = judged["ulp"].dropna().tolist()
    if not ratio and not ulps:
        return ""
    return '<div class="plots">' + (
        log_histogram(
            ratio,
            title=f"Error ÷ tolerance, {len(ratio):,} values and gradients",
            xlabel="|engine − torch| ÷ tolerance (below 1 passes)",
            threshold=1.0,
            zero_label="exact",
        )
        + log_histogram(
            ulps,
            title=f"Distance from torch in ULP, {len(ulps):,} values and gradients",
            xlabel="float64 values between the engine's number and torch's",
            zero_label="0",
        )
        + '</div><p class="note">A value near 0 that is off by a hair is many ULP away: the '
        "tolerance judges the absolute error, scaled to what rounding explains for each graph.</p>"
    )


def _failure_card(failure, path: str, engine: str) -> str:
    from conformance.oracles.autograd import torch_reference

    f = failure
    op, check, status = f.key
    rows = [r for r in f.rows if r.status in FAILING]
    first = rows[0] if rows else None
    spec = f.spec
    formula = spec.formula()
    if len(formula) > 400:
        formula = formula[:400] + " …"
    shrunk = (
        f"shrunk from {f.case.case_id} ({len(f.case.spec.nodes)} nodes) to {len(spec.nodes)}"
        if spec != f.case.spec
        else f"case {f.case.case_id}, not shrunk"
    )
    parts = [
        f'<section class="card{" error" if status == "error" else ""}" id="{escape(f.case_id)}">',
        f"<h3>{escape(op)}: {escape(check)} {escape(status)} "
        f'<span class="meta">({escape(f.case.suite)}; {escape(shrunk)})</span></h3>',
        f"<p><code>{escape(formula)}</code></p>",
    ]
    if first is not None and first.first_wrong:
        parts.append(f"<p><b>First wrong:</b> {escape(first.first_wrong)}</p>")
    if first is not None and first.hint:
        parts.append(f"<p><b>Hint:</b> {escape(first.hint)}</p>")
    if rows:
        items = "".join(
            f"<li><code>{escape(r.check)} {escape(r.node)}</code>: "
            f"{escape(_cut(r.detail.split('; first wrong: ')[0]))}</li>"
            for r in rows[:4]
        )
        more = f"<li>and {len(rows) - 4} more rows</li>" if len(rows) > 4 else ""
        parts.append(f'<ul class="rows">{items}{more}</ul>')
    if f.result is not None and status != "error":
        if len(spec.nodes) > MAX_DRAWN_NODES:
            parts.append(
                f'<p class="note">{len(spec.nodes)} nodes: too many to draw '
                f"(at most {MAX_DRAWN_NODES}).</p>"
            )
        else:
            try:
                svg = draw_graph(spec, torch_reference(spec), f.result, label=formula)
            except Exception as exc:  # a drawing must never cost the report
                svg = None
                parts.append(f'<p class="note">no drawing: {escape(type(exc).__name__)}</p>')
            if svg:
                parts.append(f'<div class="drawing">{svg}</div>')
    script = str(Path(path).with_suffix(".py"))
    parts.append(
        f'<p>Replay: <code class="cmd">{escape(replay_command(Path(path), engine))}</code> '
        f'· with torch\'s numbers: <code class="cmd">'
        f"{escape(replay_command(Path(path), 'refimpl'))}</code> · script: "
        f"<code>{escape(script)}</code></p></section>"
    )
    return "".join(parts)


def _cut(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _card_from_file(path: str, engine: str) -> str:
    """A failure known only by its reproducer file (another shard's, say): text, no drawing."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        op, check, status, formula = d["op"], d["check"], d["status"], str(d["formula"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""
    lines = [f"<b>First wrong:</b> {escape(d['first_wrong'])}" if d.get("first_wrong") else ""]
    lines.append(f"<b>Hint:</b> {escape(d['hint'])}" if d.get("hint") else "")
    return (
        f'<section class="card"><h3>{escape(str(op))}: {escape(str(check))} '
        f"{escape(str(status))}</h3><p><code>{escape(_cut(formula))}</code></p>"
        + "".join(f"<p>{line}</p>" for line in lines if line)
        + "<p>Replay (the engine's numbers were not kept, so nothing is drawn here): "
        f'<code class="cmd">{escape(replay_command(Path(path), engine))}</code></p></section>'
    )


def _failures_section(failures: Sequence, paths: Sequence[str], engine: str) -> str:
    """Each distinct failure: what is wrong, the minimal graph drawn, how to replay it. The
    first paths are those of `failures`; any after them are read from their files."""
    cards = [_failure_card(f, p, engine) for f, p in zip(failures, paths)]
    cards += [_card_from_file(p, engine) for p in paths[len(failures) :]]
    cards = [c for c in cards if c]
    if not cards:
        return ""
    return (
        f'<h2 id="failures">Distinct failures ({len(cards)}), shrunk to minimal graphs</h2>'
        "<p>Each box is a value: its data (forward) and grad (dL/d of it), the engine's beside "
        "torch's; each circle an op, whose derivative is blamed when its outline is red.</p>"
        + "\n".join(cards)
    )


def _training_section(frame: pd.DataFrame) -> str:
    """Per training case, the engine's loss curve over torch's, and the verdict in words."""
    table = training_table(frame) if len(frame) else pd.DataFrame()
    if table.empty:
        return ""
    parts = [
        "<h2 id=\"training\">Training: the engine's loss curve against torch.optim.SGD's</h2>",
        "<p>Every step's numbers are in training.csv. The parameters must stay within "
        f"{ENVELOPE:g} times the spread that 1-ULP nudges give torch's own training.</p>",
        '<div class="plots">',
    ]
    for case, steps in table.groupby("case", sort=False):
        bad = int((steps["status"] != "pass").sum())
        worst = (steps["max_param_diff"] / (ENVELOPE * steps["envelope"])).max()
        verdict = f"{bad} steps out of the envelope" if bad else "within the envelope"
        title = f"{case} ({steps['op'].iloc[0]})"
        chart = line_chart(
            [
                Series("torch.optim.SGD", tuple(steps["torch_loss"]), BLUE, width=3.0),
                Series("engine", tuple(steps["engine_loss"]), RED if bad else GREEN, "5 3"),
            ],
            title=title,
            xlabel="SGD step",
            ylabel="loss",
            width=440,
            height=230,
        )
        parts.append(
            f"<figure>{chart}<figcaption>{escape(verdict)}; the largest parameter difference "
            f"is {escape(number(worst, 3))} of the allowance.</figcaption></figure>"
        )
    parts.append("</div>")
    return "\n".join(parts)


def _coverage_section(meta: dict) -> str:
    missing = meta.get("unsupported", [])
    if not missing:
        return ""
    forms = ", ".join(f"<code>{escape(f)}</code>" for f in missing)
    return (
        f'<h2 id="coverage">Coverage</h2><p>The engine cannot build {len(missing)} op forms: '
        f"{forms}. Random graphs avoid them; fixed cases that need them are skipped. "
        "coverage.csv lists every form.</p>"
    )


def _differences_section(frame: pd.DataFrame) -> str:
    """The differences from torch's conventions, by kind: what torch does, what the engine does."""
    rows = frame[frame["kind"].fillna("") != ""] if len(frame) else frame
    if not len(rows):
        return ""
    gating = bool((rows["status"] != "differs").any())
    parts = [
        f'<h2 id="differences">Differences from torch\'s conventions ({len(rows):,})</h2>'
        + (
            "<p>--strict: each of these gates.</p>"
            if gating
            else "<p>Not wrong math, so they do not gate (--strict makes them gate).</p>"
        )
    ]
    for kind, text in DIFFERENCE_KINDS.items():
        some = rows[rows["kind"] == kind]
        if not len(some):
            continue
        items = "".join(
            f"<li><code>{escape(str(r.case))}</code> {escape(str(r.node))}: "
            f"{escape(_cut(str(r.detail)))}</li>"
            for r in some.head(MAX_DIFFERENCES).itertuples()
        )
        more = (
            f"<li>{len(some) - MAX_DIFFERENCES:,} more</li>" if len(some) > MAX_DIFFERENCES else ""
        )
        parts.append(f"<h3>{escape(text)} ({len(some):,})</h3><ul>{items}{more}</ul>")
    return "".join(parts)


MAX_DIFFERENCES = 20


def _rows_section(frame: pd.DataFrame) -> str:
    not_passed = frame[frame["status"] != "pass"] if len(frame) else frame
    if not len(not_passed):
        return '<h2 id="rows">Rows that did not pass</h2><p>Every row passed.</p>'
    shown = not_passed.head(MAX_ROWS)[list(_ROW_COLUMNS)].reset_index(drop=True)
    numeric = ("expected", "actual", "fd", "tolerance")
    table = _table(shown, _status_classes(shown, numeric), "rows", dict.fromkeys(numeric, _num))
    more = (
        f"<p>{len(not_passed) - len(shown):,} more rows in conformance.csv.</p>"
        if len(not_passed) > len(shown)
        else ""
    )
    return (
        f'<h2 id="rows">Rows that did not pass ({len(not_passed):,})</h2>'
        f'<div class="scroll">{table}</div>{more}'
    )


def render(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    meta: dict,
    failures: Sequence = (),
    comparison=None,
) -> str:
    """The whole page. `failures` are reproducers.Failure objects, in the order of
    `meta["failures"]` (their JSON paths); `comparison` a baseline.Comparison, or None."""
    glance = (
        _count_table(_by_suite(frame), "suites") if len(frame) else "<p>No rows.</p>"
    ) + _error_plots(frame)
    by_op = _count_table(summary, "ops") if len(summary) else "<p>No rows.</p>"
    sections = [
        _baseline_section(comparison),
        f'<h2 id="glance">At a glance</h2>{glance}',
        seed_section(frame),
        _failures_section(failures, meta.get("failures", []), meta["engine"]),
        _differences_section(frame),
        _training_section(frame),
        _coverage_section(meta),
        f'<h2 id="by-op">By suite and op</h2><div class="scroll">{by_op}</div>'
        '<p class="note">worst_error: the largest |engine − torch| of a value, gradient, loss '
        "or trained parameter, in units of its tolerance (at most 1 passes); the sign, descent "
        "and magnitude rows have units of their own and are not in it.</p>",
        _rows_section(frame),
    ]
    names = {"baseline": "baseline", "glance": "at a glance", "failures": "failures",
             "training": "training", "coverage": "coverage", "by-op": "by op",
             "differences": "differences",
             "rows": "rows not passed"}  # fmt: skip
    ids = [m.group(1) for part in sections if (m := re.match(r'<h2 id="([\w-]+)"', part))]
    links = " ".join(f'<a href="#{i}">{names[i]}</a>' for i in ids if i in names)
    body = [_header(meta), f"<nav>{links}</nav>", *sections]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Conformance: {escape(meta["engine"])}: {escape(meta["verdict"][:80])}</title>
<style>{STYLE}</style></head><body><main>
{"".join(part + chr(10) for part in body if part)}</main></body></html>
"""
