"""A script that reruns one tensor graph on the engine and prints its gradients beside torch's,
for a bug report: the graph written out as code, the leaves' numbers, the rows that fail."""

from __future__ import annotations

import json

from conformance.core.tensor_graph import TensorGraph

__all__ = ["tensor_script"]


def tensor_script(graph: TensorGraph, engine: str, title: str, run_folder: str) -> str:
    """The script's text: it runs from any folder (the engine found as the run found it)."""
    code = "\n".join(f"    {line}" for line in graph.formula().split("; "))
    return f'''"""{title}

The graph, as the engine builds it (leaves {graph.describe_leaves()}; weight is random):

{code}

Run it from any folder: python THIS_FILE.py
"""

import sys

import numpy as np

sys.path.insert(0, {run_folder!r})  # where the run started: a module engine is found there

from conformance.checks.tensor_graphs import check_tensor_graph  # noqa: E402
from conformance.core.case import Case  # noqa: E402
from conformance.core.tensor_graph import TensorGraph  # noqa: E402
from conformance.engines.tensor_class import load_tensor_engine  # noqa: E402
from conformance.oracles.tensor_graphs import tensor_reference  # noqa: E402

ENGINE = {engine!r}
GRAPH = TensorGraph.from_dict({json.dumps(graph.to_dict())})

np.set_printoptions(precision=17, linewidth=120)
arrays = GRAPH.arrays()
for name, value in arrays.items():
    print(f"{{name}} =\\n{{value}}\\n")
result = load_tensor_engine(ENGINE).run(GRAPH)
if result.skip:
    print(result.skip)
    raise SystemExit(1)
case = Case("tensors", GRAPH.case_id(), GRAPH, "graph", kind="tensor-graph")
rows = check_tensor_graph(case, ENGINE, result, None)
reference = tensor_reference(GRAPH, arrays)
for row in rows:
    if row.status == "pass":
        continue
    print(f"{{row.check}} {{row.node}}: {{row.status}}: {{row.detail}}")
    if row.blame:
        print(f"  blame: {{row.blame}} (first wrong: {{row.first_wrong}})")
    if row.hint:
        print(f"  hint: {{row.hint}}")
    if row.check == "grad":
        print(f"  engine:\\n{{np.asarray(result.grads.get(row.node))}}")
        print(f"  torch:\\n{{reference.grads[row.node]}}\\n")
raise SystemExit(1 if any(r.status in ("fail", "error") for r in rows) else 0)
'''
