"""The suite's own speed: throughput and its breakdown, batching, jobs scaling, big inputs."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["harness_section"]


def _seconds(fn) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def _breakdown(cases: int) -> list[str]:
    """Random-graph cases on one job, stage by stage, the engine in its worker process."""
    import torch

    from conformance.checks.compare import compare_case
    from conformance.core.options import RunOptions
    from conformance.core.records import to_frame
    from conformance.engines.pool import EnginePool
    from conformance.oracles.autograd import finite_differences, torch_reference
    from conformance.oracles.tolerance import bounds
    from conformance.run.pipeline import collect_cases

    options = RunOptions(suites=("graphs",), cases=cases)
    t_gen, chosen = _seconds(lambda: collect_cases(options))
    pool = EnginePool("refimpl", jobs=1)
    pool.start(probe=False)
    try:
        t_engine, results = _seconds(
            lambda: [f.result() for f in pool.submit([c.spec for c in chosen])]
        )
    finally:
        pool.close()
    t_torch, refs = _seconds(lambda: [torch_reference(c.spec) for c in chosen])
    t_fd, fds = _seconds(lambda: [finite_differences(c.spec) for c in chosen])

    def compare_all():
        rows = []
        for c, r, ref, fd in zip(chosen, results, refs, fds):
            rows += compare_case(c, "refimpl", r, ref, fd, bounds(c.spec, ref.node_values))
        return rows

    t_cmp, rows = _seconds(compare_all)
    with tempfile.TemporaryDirectory() as tmp:
        t_write, _ = _seconds(lambda: to_frame(rows).to_csv(Path(tmp) / "c.csv", index=False))
    stages = [
        ("generation (specs from seeds)", t_gen),
        ("engine: refimpl in its worker, round trip", t_engine),
        ("torch.autograd oracle", t_torch),
        ("finite differences (one batched pass a case)", t_fd),
        ("comparison (error bounds, rows)", t_cmp),
        ("writing (frame, CSV)", t_write),
    ]
    total = sum(t for _, t in stages)
    out = [
        f"### Throughput on one job: {len(chosen):,} graph-suite cases (one-op and random, up to "
        f"30 nodes), torch {torch.__version__}",
        "",
        "| stage | seconds | share | per case (ms) |",
        "|---|---:|---:|---:|",
    ]
    for name, t in stages:
        out.append(f"| {name} | {t:.2f} | {t / total:.0%} | {1000 * t / len(chosen):.3f} |")
    out += [
        f"| **total** | **{total:.2f}** | | **{1000 * total / len(chosen):.3f}** |",
        "",
        f"Throughput: **{len(chosen) / total:,.0f} cases per second** (target: at least 150).",
    ]
    return out


def _batching() -> list[str]:
    """One graph at 256 points: one vectorised torch pass against 256 passes of one point."""
    import torch

    from conformance.cases.generate import GraphShape, expand
    from conformance.engines.torch_engine import DTYPE, evaluate

    spec = expand(GraphShape(n_leaves=6, n_nodes=30, seed=7))
    gen = torch.Generator().manual_seed(0)
    points = [torch.tensor(spec.leaves, dtype=DTYPE) + 0.01 * torch.randn(len(spec.leaves),
              dtype=DTYPE, generator=gen) for _ in range(256)]  # fmt: skip
    batch = torch.stack(points, dim=1)

    def one_pass(n: int) -> float:
        with torch.no_grad():
            best = min(
                _seconds(lambda: evaluate(spec, [batch[j, :n] for j in range(len(spec.leaves))]))[0]
                for _ in range(20)
            )
        return best

    def separate() -> float:
        with torch.no_grad():
            return _seconds(
                lambda: [evaluate(spec, [p[j] for j in range(len(spec.leaves))]) for p in points]
            )[0]

    t1, t256, t_sep = one_pass(1), one_pass(256), min(separate() for _ in range(3))
    return [
        "### Batching: one 30-node graph at many points (finite differences use this)",
        "",
        "| evaluation | ms | vs one point |",
        "|---|---:|---:|",
        f"| 1 point, one pass | {1000 * t1:.3f} | 1.0x |",
        f"| 256 points, one vectorised pass | {1000 * t256:.3f} | {t256 / t1:.1f}x |",
        f"| 256 points, 256 passes | {1000 * t_sep:.3f} | {t_sep / t1:.1f}x |",
    ]


def _run_cli(*args: str) -> tuple[float, int, Path]:
    out = Path(tempfile.mkdtemp())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "conformance", "run", "--out", str(out), *args]
    t, proc = _seconds(lambda: subprocess.run(cmd, capture_output=True, env=env, check=False))
    return t, proc.returncode, out


def _jobs_scaling() -> list[str]:
    """The default run (all suites, default sizes) on 1 job and on every core."""
    cores = os.cpu_count() or 1
    t1, rc1, out1 = _run_cli("--jobs", "1")
    tn, rcn, outn = _run_cli("--jobs", str(cores))
    same = (out1 / "conformance.csv").read_bytes() == (outn / "conformance.csv").read_bytes()
    rows = sum(1 for _ in (out1 / "conformance.csv").open()) - 1
    return [
        "### The default run (all suites, 2,000 random graphs), wall time with start-up",
        "",
        "| jobs | seconds | exit code |",
        "|---|---:|---:|",
        f"| 1 | {t1:.1f} | {rc1} |",
        f"| {cores} (all cores) | {tn:.1f} | {rcn} |",
        "",
        f"Speed-up on {cores} cores: **{t1 / tn:.2f}x** (target: at least 1.7x on 2 cores). "
        f"{rows:,} rows; the CSV is {'byte-identical' if same else 'DIFFERENT'} for both.",
    ]


# The process's peak RSS so far, in KB, as a Python expression for the probes below.
_HWM = "int(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))"


def _measured(imports: str, work: str) -> tuple[float, float, float, float]:
    """`imports`, then `work`, in a fresh interpreter: seconds in all, seconds of the imports,
    and the peak RSS (MB) after the imports and at the end; nan where it failed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    probe = (
        f"import re, time\n_t = time.perf_counter()\n{imports}"
        f"_base = {_HWM}, time.perf_counter() - _t\n{work}"
        f"print(_base[0], _base[1], {_HWM})\n"
    )
    t, proc = _seconds(lambda: subprocess.run([sys.executable, "-c", probe], capture_output=True,
                                              text=True, env=env, check=False))  # fmt: skip
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        return t, float("nan"), float("nan"), float("nan")
    base_kb, imports_t, peak_kb = lines[-1].split()
    return t, float(imports_t), int(base_kb) / 1024, int(peak_kb) / 1024


def _big_inputs(quick: bool) -> list[str]:
    """A random graph of 100,000 nodes and the 1,000,000-node chain: time and memory per node,
    each in a fresh interpreter that also measures its own baseline (its peak after the imports)."""
    sizes = (10_000, 100_000) if not quick else ()  # quick: the chain alone
    out = [
        "### Big inputs: refimpl and torch with both oracles and the error bounds, in a fresh "
        "interpreter",
        "",
        "| graph | nodes | seconds | peak RSS (MB) | KB per node |",
        "|---|---:|---:|---:|---:|",
    ]
    imports = (
        "from conformance.engines import load_engine\n"
        "from conformance.oracles.autograd import finite_differences, torch_reference\n"
        "from conformance.oracles.tolerance import bounds\n"
        "from conformance.cases.generate import GraphShape, expand\n"
        "from conformance.cases.semantics import deep_chain\n"
    )
    check = (
        "spec = {make}\n"
        "load_engine('refimpl').run(spec)\n"
        "ref = torch_reference(spec)\n"
        "finite_differences(spec)\n"
        "bounds(spec, ref.node_values)\n"
    )
    chain = 1_000_000 if not quick else 20_000
    graphs = [("random", n, f"expand(GraphShape(8, {n}, 1))") for n in sizes]
    graphs.append(("chain", chain, f"deep_chain({chain})"))
    bases = []
    for kind, n, make in graphs:
        t, imports_t, base_mb, mb = _measured(imports, check.format(make=make))
        bases.append((base_mb, imports_t))
        out.append(f"| {kind} | {n:,} | {t:.1f} | {mb:.0f} | {1024 * (mb - base_mb) / n:.2f} |")
    base_mb, base_t = bases[0]
    out += [
        "",
        f"Baseline: {base_mb:.0f} MB for the interpreter with torch and the suite loaded "
        f"({base_t:.1f} s of imports); KB per node counts what the graph adds to it.",
    ]
    return out


def harness_section(quick: bool = False) -> list[str]:
    """The whole harness section, as markdown lines."""
    out = ["## The suite: throughput, batching, jobs, big inputs", ""]
    out += [*_breakdown(300 if quick else 2000), ""]
    out += [*_batching(), ""]
    if not quick:
        out += [*_jobs_scaling(), ""]
    out += _big_inputs(quick)
    return out
