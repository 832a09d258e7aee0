"""DIR/conformance.html: one self-contained page, readable without a network or a script.

Everything is inline: the style sheet, the plots and the graph drawings (SVG, drawn in Python by
`charts` and `graph`). A Content-Security-Policy forbids the page any fetch at all. Tables have
a class per cell (`table`, the markup pandas' Styler writes), so the colours live in the one
style sheet.

The markup is in Jinja2 templates (templates/, package data), autoescaped: this module gathers
what each section says (`sections`), the templates write it. Only three kinds of value reach a
template as Markup, deliberately: the SVG drawings (charts and graph escape every text they
embed), the tables (every string cell escaped) and the CSP constant. The navigation is made from the
same list of sections as the body.

The page, top to bottom: the verdict; what changed against a baseline; counts by suite with the
distribution of errors; the lecture's worked example; each distinct failure with its minimal graph
drawn, the engine's numbers beside torch's; the training loss curves; coverage; counts by op; and
every row that did not pass.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import pandas as pd
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from conformance.checks.diagnose import Diagnosis
from conformance.checks.training import ENVELOPE, training_table
from conformance.core.numfmt import g
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
from conformance.report.html.heatmap import heatmap
from conformance.report.html.neurons import seed_example
from conformance.report.html.table import html_table

__all__ = ["CSP", "ENVIRONMENT", "MAX_ROWS", "Section", "render", "sections"]

MAX_ROWS = 500  # rows that did not pass, shown in the page (the CSV has all)
BASELINE_ROWS = 20  # rows of each list against the baseline
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_ROW_COLUMNS = (
    "suite", "case", "check", "node", "op", "expected", "actual", "fd", "tolerance", "status",
    "detail", "reproduce",
)  # fmt: skip


def _num(x: object) -> str:
    return "" if x is None or pd.isna(x) else number(float(x))


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


def _count_table(frame: pd.DataFrame, uuid: str) -> Markup:
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
    return html_table(frame, classes, uuid, formats)


def _by_suite(frame: pd.DataFrame) -> pd.DataFrame:
    table = frame.groupby(["suite", "status"], sort=False).size().unstack(fill_value=0)
    table = table.reindex(columns=list(STATUSES), fill_value=0)
    table.insert(0, "cases", frame.groupby("suite", sort=False)["case"].nunique())
    table["rows"] = table[list(STATUSES)].sum(axis=1)
    table.loc["all"] = table.sum()
    table.loc["all", "cases"] = frame["case"].nunique()
    table.columns.name = None
    return table.rename_axis("suite").reset_index()


def _header(meta: dict) -> dict:
    opts = meta.get("options", {})
    versions = ", ".join(f"{k} {v}" for k, v in meta.get("versions", {}).items())
    suites = ", ".join(opts.get("suites", []))
    line = (
        f"{meta.get('cases', 0):,} cases, {meta.get('rows', 0):,} rows in "
        f"{meta.get('elapsed_s', 0):.1f} s · seed {opts.get('seed')} · suites {suites} · "
        + (f"dtype {opts['dtype']} · " if opts.get("dtype", "float64") != "float64" else "")
        + versions
    )
    return {"ok": meta["exit_code"] == 0, "line": line, "options": json.dumps(opts, indent=1)}


def _baseline_section(comparison) -> dict | None:
    if comparison is None:
        return None
    lists = []
    for title, frame, none in (
        ("New failures", comparison.new_failures, "nothing fails now that passed before"),
        ("Fixed", comparison.fixed, "nothing that failed before passes now"),
        (
            "Errors grown",
            comparison.grown,
            "no error grew more than twofold to a tenth of its tolerance or more",
        ),
    ):
        if frame.empty:
            lists.append({"title": title, "none": none, "table": None})
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
        uuid = "b" + title.split()[0].lower()
        lists.append(
            {
                "title": title,
                "count": len(frame),
                "table": html_table(shown, classes, uuid, formats),
                "more": len(frame) - len(shown),
            }
        )
    return {
        "summary": comparison.summary(),
        "compared": comparison.compared,
        "notes": list(comparison.notes),
        "lists": lists,
        "listed": LISTED,
    }


def _error_plots(frame: pd.DataFrame) -> list[Markup]:
    """Where the errors fall: as a fraction of the tolerance, and in ULP of torch's number."""
    compared = frame[frame["check"].isin(("value", "grad", "loss"))] if len(frame) else frame
    judged = compared[compared["status"].isin(("pass", "fail", "xfail", "xpass"))]
    with_tol = judged[(judged["tolerance"] > 0) & judged["abs_err"].notna()]
    ratio = (with_tol["abs_err"] / with_tol["tolerance"]).tolist()
    ulps = judged["ulp"].dropna().tolist()
    if not ratio and not ulps:
        return []
    return [
        _svg(
            log_histogram(
                ratio,
                title=f"Error ÷ tolerance, {len(ratio):,} values and gradients",
                xlabel="|engine − torch| ÷ tolerance (below 1 passes)",
                threshold=1.0,
                zero_label="exact",
            )
        ),
        _svg(
            log_histogram(
                ulps,
                title=f"Distance from torch in ULP, {len(ulps):,} values and gradients",
                xlabel="float64 values between the engine's number and torch's",
                zero_label="0",
            )
        ),
    ]


def _svg(svg: str) -> Markup:
    """An SVG drawing from charts or graph: markup whose every embedded text they escaped."""
    return Markup(svg)


def _diagnosis_kwargs(row) -> dict:
    """The diagnosis the run wrote into a failing row (the `blame` column and its words), for
    the drawing to outline what it names: the picture and the CSV cannot disagree. A row no
    checker diagnosed (the neuron suites' checkers do not) leaves draw_graph to ask
    `checks.diagnose` itself: the same algorithm either way."""
    if row is None or not row.first_wrong:
        return {}
    return {"diagnosis": Diagnosis(row.blame, row.first_wrong, row.hint)}


def _failure_card(failure, path: str, engine: str) -> dict:
    f = failure
    op, check, status = f.key
    rows = [r for r in f.rows if r.status in FAILING]
    first = rows[0] if rows else None
    spec = f.spec
    formula = _cut(spec.formula())
    shrunk = (
        f"shrunk from {f.case.case_id} ({_size(f.case.spec)}) to {_size(spec)}"
        if spec != f.case.spec
        else f"case {f.case.case_id}, not shrunk"
    )
    card = {
        "from_file": False,
        "id": f.case_id,
        "op": op,
        "check": check,
        "status": status,
        "suite": f.case.suite,
        "shrunk": shrunk,
        "formula": formula,
        "first_wrong": first.first_wrong if first is not None else "",
        "hint": first.hint if first is not None else "",
        "rows": [
            {"check": r.check, "node": r.node, "detail": _cut(r.detail.split("; first wrong: ")[0])}
            for r in rows[:4]
        ],
        "more_rows": max(0, len(rows) - 4),
        "too_large": 0,
        "max_drawn": MAX_DRAWN_NODES,
        "no_drawing": "",
        "svg": None,
    }
    if f.result is not None and f.reference is not None and status != "error":
        if len(spec.nodes) > MAX_DRAWN_NODES:
            card["too_large"] = len(spec.nodes)
        else:
            try:
                svg = draw_graph(
                    spec,
                    f.reference,
                    f.result,
                    label=formula,
                    **_diagnosis_kwargs(first),
                )
            except Exception as exc:  # a drawing must never cost the report
                svg = None
                card["no_drawing"] = type(exc).__name__
            if svg:
                card["svg"] = _svg(svg)
    card["replay"] = replay_command(Path(path), engine)
    tensors = f.case.kind == "tensor-graph"  # torch's numbers come from refimpl's own kind
    card["replay_refimpl"] = replay_command(Path(path), "tensors:refimpl" if tensors else "refimpl")
    card["script"] = str(Path(path).with_suffix(".py"))
    return card


def _size(spec) -> str:
    """How big a failing graph is: its nodes, and a tensor graph's leaf elements."""
    nodes = f"{len(spec.nodes)} node{'s' if len(spec.nodes) != 1 else ''}"
    leaves = getattr(spec, "leaves", ())
    if leaves and isinstance(leaves[0], tuple) and isinstance(leaves[0][1], tuple):
        elements = sum(math.prod(shape) for _, shape in leaves)
        return f"{nodes}, {elements} leaf element{'s' if elements != 1 else ''}"
    return nodes


def _cut(text: str, limit: int = 400) -> str:
    return text if len(text) <= limit else text[:limit] + " …"


def _card_from_file(path: str, engine: str) -> dict | None:
    """A failure known only by its reproducer file (another shard's, say): text, no drawing."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        op, check, status, formula = d["op"], d["check"], d["status"], str(d["formula"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {
        "from_file": True,
        "op": str(op),
        "check": str(check),
        "status": str(status),
        "formula": _cut(formula),
        "first_wrong": str(d["first_wrong"]) if d.get("first_wrong") else "",
        "hint": str(d["hint"]) if d.get("hint") else "",
        "replay": replay_command(Path(path), engine),
    }


def _failures_section(failures: Sequence, paths: Sequence[str], engine: str) -> list[dict]:
    """Each distinct failure's card. The first paths are those of `failures`; any after them
    are read from their files."""
    cards = [_failure_card(f, p, engine) for f, p in zip(failures, paths)]
    cards += [_card_from_file(p, engine) for p in paths[len(failures) :]]
    return [c for c in cards if c]


def _layers_section(
    frame: pd.DataFrame, layer_failures: Sequence, paths: Sequence[str]
) -> list[dict] | None:
    """A part per layer of the layers suite: its counts, then a card per distinct failure with
    the heatmap of its tensor where there is one. None for a run without the layers suite."""
    mine = frame[frame["suite"] == "layers"] if len(frame) else frame
    if not len(mine):
        return None
    cards = _layer_cards(layer_failures, paths)
    parts = []
    for layer, rows in mine.groupby("op", sort=False):
        counts = rows["status"].value_counts()
        said = ", ".join(f"{int(counts[s]):,} {s}" for s in STATUSES if s in counts)
        missing = rows[rows["detail"].str.startswith("missing: ")]["detail"]
        parts.append({
            "layer": layer, "cases": rows["case"].nunique(), "counts": said,
            "bad": bool(rows["status"].isin(FAILING).any()),
            "shown": bool((rows["status"] != "pass").any()),
            "missing": str(missing.iloc[0])[len("missing: "):] if len(missing) else "",
            "cards": [c for c in cards if c["layer"] == layer],
        })  # fmt: skip
    return parts


def _layer_cards(layer_failures: Sequence, paths: Sequence[str]) -> list[dict]:
    """A card per distinct layer failure."""
    scripts = {Path(p).stem: str(Path(p).with_suffix(".py")) for p in paths}
    cards = []
    for f in layer_failures:
        layer, tensor, check, status = f.key
        rows = [r for r in f.rows if r.status in ("fail", "error", "xpass")]
        mine = [r for r in rows if r.node == tensor] or rows
        hint = next((r.hint for r in mine if r.hint), "")
        shapes = ", ".join(
            f"{name} {'×'.join(str(n) for n in shape)}" for name, shape in f.case.spec.shapes
        )
        svg = None
        if f.heat:
            title = f"{tensor}: |engine − torch| ÷ tolerance, shape {tuple(f.shape)}"
            svg = _svg(heatmap(f.heat, f.shape, title))
        cards.append({
            "layer": layer, "tensor": tensor, "check": check, "status": status,
            "case": f.case.case_id, "shapes": shapes, "hint": hint, "rows": mine[:6],
            "svg": svg, "script": scripts.get(f.case.case_id, ""),
            "reproduce": (f.original or f.case).reproduce,
        })  # fmt: skip
    return cards


def _training_section(frame: pd.DataFrame, curves: pd.DataFrame | None = None) -> dict | None:
    """Per training case, the engine's loss curve over torch's, and the verdict in words
    (`curves`: the frame's training_table, where the caller has it already)."""
    if curves is None:
        curves = training_table(frame) if len(frame) else pd.DataFrame()
    if curves.empty:
        return None
    figures = []
    for case, steps in curves.groupby("case", sort=False):
        bad = int((steps["status"] != "pass").sum())
        worst = (steps["max_param_diff"] / (ENVELOPE * steps["envelope"])).max()
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
        figures.append(
            {
                "chart": _svg(chart),
                "verdict": f"{bad} steps out of the envelope" if bad else "within the envelope",
                "worst": number(worst, 3),
            }
        )
    return {"envelope": g(ENVELOPE), "figures": figures}


def _differences_section(frame: pd.DataFrame) -> dict | None:
    """The differences from torch's conventions, by kind: what torch does, what the engine does."""
    rows = frame[frame["kind"].fillna("") != ""] if len(frame) else frame
    if not len(rows):
        return None
    kinds = []
    for kind, text in DIFFERENCE_KINDS.items():
        some = rows[rows["kind"] == kind]
        if not len(some):
            continue
        items = [
            {"case": str(r.case), "node": str(r.node), "detail": _cut(str(r.detail))}
            for r in some.head(MAX_DIFFERENCES).itertuples()
        ]
        more = len(some) - MAX_DIFFERENCES if len(some) > MAX_DIFFERENCES else 0
        kinds.append({"text": text, "count": len(some), "entries": items, "more": more})
    return {"count": len(rows), "gating": bool((rows["status"] != "differs").any()), "kinds": kinds}


MAX_DIFFERENCES = 20


def _rows_section(frame: pd.DataFrame) -> dict | None:
    not_passed = frame[frame["status"] != "pass"] if len(frame) else frame
    if not len(not_passed):
        return None
    shown = not_passed.head(MAX_ROWS)[list(_ROW_COLUMNS)].reset_index(drop=True)
    numeric = ("expected", "actual", "fd", "tolerance")
    formats = dict.fromkeys(numeric, _num)
    table = html_table(shown, _status_classes(shown, numeric), "rows", formats)
    return {"count": len(not_passed), "table": table, "more": len(not_passed) - len(shown)}


@dataclass(frozen=True)
class Section:
    """One section of the page: its anchor and its entry in the navigation (none when `nav` is
    empty), the template that draws it, and what the template reads (`section.data`)."""

    id: str
    nav: str
    template: str
    data: object = None


def sections(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    meta: dict,
    failures: Sequence = (),
    comparison=None,
    layer_failures: Sequence = (),
    curves: pd.DataFrame | None = None,
) -> list[Section]:
    """The page's sections, top to bottom, leaving out those with nothing to say: the
    navigation and the body are both made from this list (`curves`: see render)."""
    glance = {
        "table": _count_table(_by_suite(frame), "suites") if len(frame) else None,
        "plots": _error_plots(frame),
    }
    by_op = _count_table(summary, "ops") if len(summary) else None
    seed = seed_example(frame)
    cards = _failures_section(failures, meta.get("failures", []), meta["engine"])
    candidates = [
        Section("baseline", "baseline", "baseline.html.j2", _baseline_section(comparison)),
        Section("glance", "at a glance", "glance.html.j2", glance),
        Section("", "", "neurons.html.j2", seed),
        Section("failures", "failures", "failures.html.j2", cards or None),
        Section(
            "layers",
            "layers",
            "layers.html.j2",
            _layers_section(frame, layer_failures, meta.get("failures", [])),
        ),
        Section("differences", "differences", "differences.html.j2", _differences_section(frame)),
        Section("training", "training", "training.html.j2", _training_section(frame, curves)),
        Section("coverage", "coverage", "coverage.html.j2", meta.get("unsupported") or None),
        Section("by-op", "by op", "by_op.html.j2", by_op),
        Section("rows", "rows not passed", "rows.html.j2", _rows_section(frame)),
    ]
    always = {"glance", "by-op", "rows"}  # these say "no rows" or "every row passed"
    return [s for s in candidates if s.data is not None or s.id in always]


def _html_escape(value: object) -> object:
    """Jinja's `finalize`: every interpolated value that is not markup is escaped here, as
    html.escape writes it (&#x27; for ', as the page always had); autoescape then leaves it."""
    if hasattr(value, "__html__"):
        return value
    return Markup(escape(value if isinstance(value, str) else str(value)))


ENVIRONMENT = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=True,
    finalize=_html_escape,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(
    frame: pd.DataFrame,
    summary: pd.DataFrame,
    meta: dict,
    failures: Sequence = (),
    comparison=None,
    layer_failures: Sequence = (),
    curves: pd.DataFrame | None = None,
) -> str:
    """The whole page. `failures` are reproducers.Failure objects, in the order of
    `meta["failures"]` (their JSON paths); `comparison` a baseline.Comparison, or None;
    `curves` the frame's training_table, where the caller has made it already."""
    return ENVIRONMENT.get_template("page.html.j2").render(
        csp=Markup(CSP),  # a constant: its quotes are the policy's own
        meta=meta,
        header=_header(meta),
        sections=sections(frame, summary, meta, failures, comparison, layer_failures, curves),
    )
