"""Peak memory of one engine on one graph, in a fresh interpreter that never imports torch."""

from __future__ import annotations

import gc
import json
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

from benchmarks.graphs import build_chain, build_graph, draw_plan, load_engine

__all__ = ["count_nodes", "measure", "measure_in_subprocess"]

ROOT = Path(__file__).resolve().parent.parent


def _peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB.

    On Linux, VmHWM from /proc/self/status: getrusage's ru_maxrss would do, but a child inherits
    in it its parent's peak at fork time (the parent here has torch loaded, about 200 MB).
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def count_nodes(root: Any) -> int:
    """Nodes `root` depends on, itself included, in refimpl or micrograd; no recursion."""
    seen = {id(root)}
    stack = [root]
    while stack:
        for parent in stack.pop()._prev:
            if id(parent) not in seen:
                seen.add(id(parent))
                stack.append(parent)
    return len(seen)


def measure(case: str, engine_name: str, n: int, *, recursion_limit: int | None = None) -> dict:
    """Build and backpropagate `case` ("graph": an n-op plan; "chain": y = y + x, n times).

    The baseline is the peak RSS after the imports and the drawn plan; the peak is read right
    after backward(). Their difference over the node count is what one node costs.
    """
    engine = load_engine(engine_name)
    plan = draw_plan(n) if case == "graph" else None
    if recursion_limit is not None:
        sys.setrecursionlimit(recursion_limit)
    gc.collect()
    base = _peak_rss_mb()
    row = {"case": case, "engine": engine_name, "n": n, "recursion_limit": sys.getrecursionlimit()}
    try:
        if plan is None:
            _x, out = build_chain(n, engine)
        else:
            _leaves, out = build_graph(plan, engine)
        out.backward()
    except RecursionError:
        return {**row, "error": "RecursionError"}
    peak = _peak_rss_mb()
    nodes = count_nodes(out)
    return {
        **row,
        "nodes": nodes,
        "base_mb": base,
        "peak_mb": peak,
        "bytes_per_node": (peak - base) * 2**20 / nodes,
        "torch_imported": "torch" in sys.modules,
    }


def measure_in_subprocess(
    case: str, engine_name: str, n: int, *, recursion_limit: int | None = None
) -> dict:
    """`measure` in a new interpreter, so torch is never loaded; its row, or how it failed."""
    code = (
        "import json; from benchmarks.memory import measure; "
        f"print(json.dumps(measure({case!r}, {engine_name!r}, {n!r}, "
        f"recursion_limit={recursion_limit!r})))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return {"case": case, "engine": engine_name, "n": n, "error": last}
    return json.loads(proc.stdout.strip().splitlines()[-1])
