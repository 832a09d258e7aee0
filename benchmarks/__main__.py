"""`python -m benchmarks [--ops N] [--repeat R] [--quick]`: time and memory, three engines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import version

from benchmarks.graphs import ENGINE_NAMES, Plan, draw_plan
from benchmarks.harness import harness_section
from benchmarks.memory import measure_in_subprocess
from benchmarks.timing import Timing, recursion_limit, time_plan

# Targets for refimpl's time, as fractions of the other engines' (GC on).
TARGETS = {"micrograd": 0.3, "torch": 0.25}
RSS_TARGET_MB = 400.0
AGREEMENT = 1e-9  # largest relative difference of a leaf gradient that still counts as agreeing


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--ops", type=int, default=20_000, help="ops in the random graph")
    parser.add_argument("--repeat", type=int, default=5, help="runs per engine; the best counts")
    parser.add_argument("--chain", type=int, default=1_000_000, help="length of y = y + x chain")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random graph")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument(
        "--only", choices=("engines", "harness"), default=None,
        help="only the engines' section (refimpl, micrograd, torch) or the suite's (harness)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.ops, args.repeat, args.chain = min(args.ops, 300), 1, min(args.chain, 5_000)
    return args


def _rel_diff(a: float, b: float) -> float:
    return 0.0 if a == b else abs(a - b) / max(abs(a), abs(b))


def _max_rel_diff(x: Timing, y: Timing) -> float:
    return max(map(_rel_diff, (x.output, *x.leaf_grads), (y.output, *y.leaf_grads)))


def _micrograd_limit(ops: int) -> int:
    """micrograd's toposort recurses once per node of the longest path: up to 3 nodes an op."""
    return 3 * ops + 1_000


def _time_all(plan: Plan, repeat: int) -> dict[str, Timing]:
    timings = {}
    for name in ENGINE_NAMES:
        limit = _micrograd_limit(len(plan.steps)) if name == "micrograd" else 0
        with recursion_limit(limit):
            timings[name] = time_plan(plan, name, repeat)
    return timings


def _speed_section(args: argparse.Namespace, plan: Plan) -> tuple[list[str], bool]:
    """The time table, the targets and the engines' agreement; False if they disagree."""
    t = _time_all(plan, args.repeat)
    mg, th = t["micrograd"], t["torch"]
    out = [
        "## Time: forward (building the graph) + backward()",
        "",
        "| engine | time (ms) | vs micrograd | vs torch | GC off (ms) | vs micrograd, GC off |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in t.items():
        out.append(
            f"| {name} | {r.best_s * 1e3:.1f} | {r.best_s / mg.best_s:.2f}x "
            f"| {r.best_s / th.best_s:.2f}x | {r.best_s_gc_off * 1e3:.1f} "
            f"| {r.best_s_gc_off / mg.best_s_gc_off:.2f}x |"
        )
    out += [
        "",
        "GC on is how users run; micrograd's closures make reference cycles, so the cyclic GC runs "
        "often for it and its time grows with every object the process holds (torch's too). "
        "GC off (gc.disable() around each run) is shown for comparison.",
        "",
    ]
    ref = t["refimpl"]
    for other, target in TARGETS.items():
        ratio = ref.best_s / t[other].best_s
        verdict = "met" if ratio <= target else "NOT met"
        out.append(f"- target refimpl ≤ {target}x {other} (GC on): {verdict} ({ratio:.2f}x)")
    diffs = {o: _max_rel_diff(ref, t[o]) for o in ENGINE_NAMES if o != "refimpl"}
    out.append(
        f"- agreement on the output and the {len(plan.leaves)} leaf gradients, max relative "
        "difference: " + ", ".join(f"refimpl vs {o} {d:.3g}" for o, d in diffs.items())
    )
    return out, all(d <= AGREEMENT for d in diffs.values())


def _memory_row(label: str, m: dict) -> str:
    if "error" in m:
        return f"| {label} | {m['engine']} | - | - | - | {m['error']} | - |"
    per_op = (m["peak_mb"] - m["base_mb"]) * 2**20 / m["n"]
    return (
        f"| {label} | {m['engine']} | {m['nodes']:,} | {m['base_mb']:.1f} | {m['peak_mb']:.1f} "
        f"| {m['bytes_per_node']:.0f} | {per_op:.0f} |"
    )


def _memory_section(args: argparse.Namespace) -> tuple[list[str], bool]:
    """Peak RSS per engine, each in a fresh interpreter; False if refimpl's runs failed."""
    graph, chain = f"{args.ops:,}-op plan", f"chain y = y + x, {args.chain:,} times"
    rows = [
        (graph, measure_in_subprocess("graph", "refimpl", args.ops)),
        (
            graph,
            measure_in_subprocess(
                "graph", "micrograd", args.ops, recursion_limit=_micrograd_limit(args.ops)
            ),
        ),
        (chain, measure_in_subprocess("chain", "refimpl", args.chain)),
        (chain, measure_in_subprocess("chain", "micrograd", args.chain)),
    ]
    out = [
        "## Memory",
        "",
        "Each row in a fresh interpreter that never imports torch. Peak RSS: VmHWM of "
        "/proc/self/status (a child's getrusage ru_maxrss starts at the torch-loaded parent's "
        "peak, inherited at fork). Baseline: the peak after the imports and the drawn plan. "
        "bytes/node: (peak - baseline) / nodes the output depends on (micrograd makes more "
        "nodes per op: constants become nodes, a - b is a + b * -1); bytes/op: the same over the "
        "plan's ops or the chain's length. micrograd runs the chain at its default recursion "
        "limit.",
        "",
        "| graph | engine | nodes | baseline RSS (MB) | peak RSS (MB) | bytes/node | bytes/op |",
        "|---|---|---:|---:|---:|---:|---:|",
        *(_memory_row(label, m) for label, m in rows),
        "",
    ]
    measured = [m for _label, m in rows if "error" not in m]
    torch_seen = any(m["torch_imported"] for m in measured)
    out.append(f"- torch imported in a memory subprocess: {'YES' if torch_seen else 'no'}")
    ref_chain, mg_chain = rows[2][1], rows[3][1]
    ok = "error" not in rows[0][1] and "error" not in ref_chain and not torch_seen
    if "error" not in ref_chain:
        verdict = "met" if ref_chain["peak_mb"] < RSS_TARGET_MB else "NOT met"
        peak = ref_chain["peak_mb"]
        out.append(
            f"- target refimpl chain peak RSS < {RSS_TARGET_MB:.0f} MB: {verdict} ({peak:.1f} MB)"
        )
    out.append(f"- micrograd on the chain: {mg_chain.get('error', 'ran')}")
    return out, ok


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks and print markdown; exit 1 if the engines disagree or a run fails."""
    args = _parse(argv)
    plan = draw_plan(args.ops, seed=args.seed)
    header = [
        "# Benchmarks: refimpl, micrograd and torch scalar autograd, same graph, same run",
        "",
        f"python {sys.version.split()[0]}, torch {version('torch')}, "
        f"micrograd {version('micrograd')}. A random plan of {args.ops:,} ops from + - * relu "
        f"(seed {args.seed}, {len(plan.leaves)} leaves, Value-Value and Value-constant operands), "
        f"best of {args.repeat}; drawing the plan is not timed. torch: float64 0-d tensors, "
        "leaves with requires_grad. micrograd ran with "
        f"sys.setrecursionlimit({_micrograd_limit(args.ops):,}) for its recursive toposort; "
        f"refimpl and torch at the default ({sys.getrecursionlimit():,}).",
        "",
    ]
    agree = memory_ok = True
    if args.only != "harness":
        speed, agree = _speed_section(args, plan)
        memory, memory_ok = _memory_section(args)
        print("\n".join([*header, *speed, "", *memory]), flush=True)
    if args.only != "engines":
        print("\n" + "\n".join(harness_section(args.quick)))
    return 0 if agree and memory_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
