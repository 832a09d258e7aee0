"""Graph specs: frozen, plain data, JSON round-trip, a stable id from their content.

A spec names its inputs by reference: `x0, x1, ...` are the leaves (with values), `c0, c1, ...`
constants, `n0, n1, ...` op nodes in order. A node reads only leaves, constants and earlier nodes,
so every valid spec is a DAG. The engine computes `output`, multiplies it by `upstream` (a constant
other than 1, so a derivative that ignores the gradient from above cannot pass by luck) and calls
backward on that.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TypeVar

from conformance.core.dtypes import DTYPES, rounded
from conformance.core.vocabulary import OPS

__all__ = [
    "SCHEMA_VERSION",
    "GraphSpec",
    "Node",
    "SpecError",
    "decode_number",
    "encode_number",
    "parse_json",
]

SCHEMA_VERSION = 1
# A formula inlines a node while its text is at most this long, and stops listing the named
# ones past FORMULA_MAX characters: the text grows with the graph, never with its paths.
FORMULA_INLINE = 120
FORMULA_MAX = 1000
SHARED_INLINE = 16  # in a long formula, a node read twice is named unless this short
_NONE_READ: frozenset[int] = frozenset()
T = TypeVar("T")


class SpecError(ValueError):
    """A spec that cannot be a graph: unknown op, bad reference, cycle, wrong arity or version."""


@dataclass(frozen=True)
class Node:
    """One op node: the op's name, its input references and an optional parameter."""

    op: str
    args: tuple[str, ...]
    param: float | None = None


@dataclass(frozen=True)
class Step:
    """After backward, one plain SGD step of `lr` on the leaves at `params` (their indices).

    The engine's own optimizer takes it where it has one (`EngineResult.stepped`); otherwise the
    suite applies w ← w − lr·g itself. The gradient is the leaf's, of upstream · output.
    """

    lr: float
    params: tuple[int, ...]


@dataclass(frozen=True)
class GraphSpec:
    """A computational graph: leaves with values, constants, op nodes, one output."""

    leaves: tuple[float, ...]
    nodes: tuple[Node, ...]
    output: str
    consts: tuple[float, ...] = ()
    upstream: float = 1.0
    leaf_names: tuple[str, ...] = field(default=())
    # How many times the engine calls backward() on the same graph, zeroing the leaves' gradients
    # in between or not: torch accumulates leaf gradients, and an intermediate never counts twice.
    backwards: int = 1
    zero_between: bool = False
    step: Step | None = None  # one SGD step after backward (neuron and training cases)
    # The precision the engine computes in (`core.dtypes`): the inputs are numbers of it, and
    # the tolerances take its epsilon. Written in the JSON only when not float64.
    dtype: str = "float64"

    def __post_init__(self) -> None:
        self.validate()

    def __reduce__(self) -> tuple:
        """Pickled as plain tuples (nodes as (op, args, param)), rebuilt without validating again:
        40% smaller and twice as quick to write as the dataclasses' own form (a `--jobs`
        checker sends back each case with a row that is not `pass`)."""
        values = [getattr(self, name) for name in _SPEC_FIELDS]
        values[_SPEC_FIELDS.index("nodes")] = tuple((n.op, n.args, n.param) for n in self.nodes)
        return _rebuilt, tuple(values)

    def in_dtype(self, dtype: str) -> GraphSpec:
        """This graph for an engine computing in `dtype`: the leaves, constants and upstream
        gradient rounded to numbers of it (so the engine and torch start from the same)."""
        if dtype == self.dtype == "float64":
            return self
        return replace(
            self,
            leaves=tuple(rounded(v, dtype) for v in self.leaves),
            consts=tuple(rounded(v, dtype) for v in self.consts),
            upstream=rounded(self.upstream, dtype),
            dtype=dtype,
        )

    # ----- names -----

    def leaf_name(self, i: int) -> str:
        """The readable name of leaf i: its given name, else `x{i}`."""
        return self.leaf_names[i] if self.leaf_names else f"x{i}"

    def describe(self, node_index: int) -> str:
        """`n3 = x0 * n2`: the node's formula in references."""
        node = self.nodes[node_index]
        return f"n{node_index} = {OPS[node.op].describe(node.args, node.param)}"

    def formula(self) -> str:
        """The whole graph as one expression: nodes inlined while short, longer ones named.

        Inlining every node doubles the text at each diamond (2**40 characters for 40 levels).
        A formula whose nodes all stay within FORMULA_INLINE characters reads as it always did;
        otherwise a node read more than once, or whose text would pass that, is named (`n7`)
        where it is read and defined after the expression (`… where n7 = …`), nearest the
        output first. Past FORMULA_MAX characters an ellipsis says how many definitions are left.
        """
        head, reads, named = self._named_formula(Counter())
        readers = Counter(a for node in self.nodes for a in node.args if a[0] == "n")
        if named and any(count > 1 for count in readers.values()):
            # A long formula: name the shared subexpressions too, so each is spelled out once.
            head, reads, named = self._named_formula(readers)
        return _with_definitions(head, reads, named)

    def _named_formula(
        self, readers: Counter[str]
    ) -> tuple[str, frozenset[int], dict[int, tuple[str, frozenset[int]]]]:
        """(the output's text, the named nodes it reads, each named node's text and reads);
        a node is named when its text is long, or when `readers` counts it twice and it is not
        short."""
        raw: dict[str, str] = {}  # each node's text, or its name
        wrapped: dict[str, str] = {}  # the same, in parentheses where it has an operator
        named: dict[int, tuple[str, frozenset[int]]] = {}
        reads: dict[str, frozenset[int]] = {}  # the named nodes each node's text reads
        for i, node in enumerate(self.nodes):
            op = OPS[node.op]
            call = op.symbol.endswith(")")  # exp(...) needs no parentheses around its argument
            args = [self._inline(a, raw if call else wrapped) for a in node.args]
            text = op.describe(args, node.param)
            ref = f"n{i}"
            inner = _NONE_READ
            for a in node.args:
                inner = inner | reads[a] if a in reads else inner
            shared = readers[ref] > 1 and len(text) > SHARED_INLINE
            if ref != self.output and (len(text) > FORMULA_INLINE or shared):
                named[i] = text, inner
                raw[ref] = wrapped[ref] = ref
                reads[ref] = frozenset((i,))
            else:
                raw[ref] = text
                wrapped[ref] = text if call else f"({text})"
                reads[ref] = inner
        head = raw.get(self.output) or self._inline(self.output, wrapped)
        return head, reads.get(self.output, _NONE_READ), named

    def _inline(self, ref: str, parts: dict[str, str]) -> str:
        if ref in parts:
            return parts[ref]
        index = int(ref[1:])
        return self.leaf_name(index) if ref[0] == "x" else repr(self.consts[index])

    # ----- walking the graph -----

    def walk(
        self,
        leaves: Sequence[T],
        apply: Callable[[Node, list[T]], T],
        consts: Sequence[T] | None = None,
    ) -> list[T]:
        """Every node's value in order: `apply(node, args)`, with the node's arguments resolved
        to the given leaves, the constants (the spec's own unless given) and earlier results."""
        consts = self.consts if consts is None else consts
        env = dict(zip(_names("c", len(consts)), consts))
        env.update(zip(_names("x", len(leaves)), leaves))
        nodes = []
        for ref, node in zip(_names("n", len(self.nodes)), self.nodes):
            env[ref] = out = apply(node, [env[a] for a in node.args])
            nodes.append(out)
        return nodes

    def resolve(
        self, ref: str, leaves: Sequence[T], nodes: Sequence[T], consts: Sequence[T] | None = None
    ) -> T:
        """The value `ref` (x0, c0, n3) names among leaves, constants and node values."""
        kind, index = ref[0], int(ref[1:])
        if kind == "x":
            return leaves[index]
        return nodes[index] if kind == "n" else (self.consts if consts is None else consts)[index]

    def named(
        self, leaves: Sequence[T], nodes: Sequence[T], consts: Sequence[T] | None = None
    ) -> dict[str, T]:
        """Every value by its reference: x0, x1, ..., c0, ..., n0, ... (the spec's constants
        unless given; as many nodes as `nodes` holds)."""
        named = {f"x{i}": x for i, x in enumerate(leaves)}
        named.update((f"c{i}", c) for i, c in enumerate(self.consts if consts is None else consts))
        named.update((f"n{i}", v) for i, v in enumerate(nodes))
        return named

    # ----- validity -----

    def validate(self) -> None:
        """Raise SpecError unless every reference, op and arity is right and the graph is a DAG."""
        if not self.leaves:
            raise SpecError("a graph needs at least one leaf")
        if self.leaf_names and len(self.leaf_names) != len(self.leaves):
            raise SpecError("leaf_names must name every leaf")
        valid = {f"x{i}" for i in range(len(self.leaves))}
        valid.update(f"c{i}" for i in range(len(self.consts)))
        for i, node in enumerate(self.nodes):
            op = OPS.get(node.op)
            if op is None:
                raise SpecError(f"node n{i}: unknown op {node.op!r}; known: {', '.join(OPS)}")
            if len(node.args) != op.arity:
                raise SpecError(
                    f"node n{i}: {node.op} takes {op.arity} inputs, got {len(node.args)}"
                )
            if op.params and node.param not in op.params:
                raise SpecError(f"node n{i}: {node.op} needs a parameter in {op.params}")
            for ref in node.args:
                # A plain reference to a leaf, a constant or an earlier node is fine: only the
                # rest (odd spellings such as `x01` included) go through the full check.
                if ref.__class__ is not str or ref not in valid:
                    self._check_ref(ref, before=i, where=f"node n{i}")
            if all(ref.startswith("c") for ref in node.args):
                raise SpecError(f"node n{i}: reads only constants")
            valid.add(f"n{i}")
        self._check_ref(self.output, before=len(self.nodes), where="output")
        if not math.isfinite(self.upstream) or self.upstream == 0:
            raise SpecError("upstream must be a finite, non-zero number")
        if self.dtype not in DTYPES:
            raise SpecError(f"unknown dtype {self.dtype!r}; the dtypes are {', '.join(DTYPES)}")
        if self.step is not None:
            p = self.step.params
            if not (math.isfinite(self.step.lr) and self.step.lr > 0):
                raise SpecError("step: lr must be a finite number above 0")
            if len(set(p)) != len(p) or not all(0 <= i < len(self.leaves) for i in p):
                raise SpecError("step: params must be distinct leaf indices")
        if not isinstance(self.backwards, int) or not 1 <= self.backwards <= 100:
            raise SpecError("backwards must be a whole number from 1 to 100")

    @property
    def grad_factor(self) -> int:
        """How many single-backward gradients the leaves hold at the end: accumulation."""
        return 1 if self.zero_between else self.backwards

    def _check_ref(self, ref: str, *, before: int, where: str) -> None:
        if not isinstance(ref, str) or len(ref) < 2 or ref[0] not in "xcn" or not ref[1:].isdigit():
            raise SpecError(f"{where}: bad reference {ref!r} (use x<i>, c<i> or n<i>)")
        index = int(ref[1:])
        limit = {"x": len(self.leaves), "c": len(self.consts), "n": before}[ref[0]]
        if index >= limit:
            if ref[0] == "n" and index < len(self.nodes):
                raise SpecError(f"{where}: reads {ref}, which comes later: a cycle or bad order")
            raise SpecError(f"{where}: reference {ref} points to nothing")

    # ----- plain data -----

    def to_dict(self) -> dict:
        """Plain data with the schema version; `from_dict` reads it back."""
        d = {
            "schema": SCHEMA_VERSION,
            "leaves": [encode_number(v) for v in self.leaves],
            "consts": [encode_number(v) for v in self.consts],
            "nodes": [
                {
                    "op": n.op,
                    "args": list(n.args),
                    **({} if n.param is None else {"param": n.param}),
                }
                for n in self.nodes
            ],
            "output": self.output,
            "upstream": self.upstream,
        }
        if self.leaf_names:
            d["leaf_names"] = list(self.leaf_names)
        if self.backwards != 1:  # written only when used, so older ids stay the same
            d["backwards"] = self.backwards
        if self.zero_between:
            d["zero_between"] = True
        if self.step is not None:
            d["step"] = {"lr": self.step.lr, "params": list(self.step.params)}
        if self.dtype != "float64":  # only when used: float64 specs keep their ids
            d["dtype"] = self.dtype
        return d

    @classmethod
    def from_dict(cls, d: dict) -> GraphSpec:
        """Read a spec written by `to_dict`; SpecError says what is wrong."""
        if not isinstance(d, dict):
            raise SpecError("a graph spec must be a JSON object")
        if d.get("schema") != SCHEMA_VERSION:
            raise SpecError(f"schema version {d.get('schema')!r} is not {SCHEMA_VERSION}")
        try:
            nodes = tuple(
                Node(
                    str(n["op"]),
                    tuple(_ref(a) for a in n["args"]),
                    None if n.get("param") is None else decode_number(n["param"]),
                )
                for n in d["nodes"]
            )
            return cls(
                leaves=tuple(decode_number(v) for v in d["leaves"]),
                nodes=nodes,
                output=str(d["output"]),
                consts=tuple(decode_number(v) for v in d.get("consts", ())),
                upstream=decode_number(d.get("upstream", 1.0)),
                leaf_names=tuple(str(s) for s in d.get("leaf_names", ())),
                backwards=_whole(d.get("backwards", 1)),
                zero_between=d.get("zero_between", False) is True,
                step=_step(d.get("step")),
                dtype=str(d.get("dtype", "float64")),
            )
        except SpecError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SpecError(f"malformed graph spec: {type(exc).__name__}: {exc}") from None

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces; the same spec always gives the same text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GraphSpec:
        """Parse JSON text; SpecError for anything that is not a valid spec."""
        return cls.from_dict(parse_json(text))

    def case_id(self) -> str:
        """A stable id: a hash of the canonical JSON, so the same graph always has the same id."""
        return "g-" + hashlib.sha256(self.to_json().encode()).hexdigest()[:12]


# The reference names x0, c0, n0, ... made once: `walk` is the hot loop of every engine run and
# oracle, and formatting a name costs as much as a node's dict entry. Past NAMES_KEPT the names
# are made for the one walk and dropped (the 1,000,000-node chain).
NAMES_KEPT = 4096
_NAMES: dict[str, list[str]] = {"x": [], "c": [], "n": []}


def _names(kind: str, n: int) -> Sequence[str]:
    names = _NAMES[kind]
    if len(names) < n:
        if n > NAMES_KEPT:
            return [f"{kind}{i}" for i in range(n)]
        names.extend(f"{kind}{i}" for i in range(len(names), n))
    return names


def _with_definitions(
    head: str, reads: frozenset[int], named: dict[int, tuple[str, frozenset[int]]]
) -> str:
    """`head where n9 = …; n4 = …`: the named nodes the head reads, nearest the output first."""
    reached, todo = set(reads), list(reads)
    while todo:
        for j in named[todo.pop()][1] - reached:
            reached.add(j)
            todo.append(j)
    order = sorted(reached, reverse=True)
    if not order:  # the long nodes are ones the output does not read
        return head
    text = head + " where "
    for k, i in enumerate(order):
        definition = f"{'; ' if k else ''}n{i} = {named[i][0]}"
        if len(text) + len(definition) > FORMULA_MAX:
            return text + f"{'; ' if k else ''}… ({len(order) - k} more named nodes: see the spec)"
        text += definition
    return text


_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def encode_number(x: float) -> float | str:
    """A float for standard JSON: nan and the infinities become the strings "nan", "inf", "-inf"."""
    if math.isfinite(x):
        return x
    return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")


def decode_number(v: object) -> float:
    """A float from JSON: a number, or one of the strings "nan", "inf", "-inf"; else SpecError."""
    if isinstance(v, str) and v in _NON_FINITE:
        return _NON_FINITE[v]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise SpecError(f'{v!r:.40} is not a number (write nan and infinities as "nan", "inf")')
    try:
        return float(v)
    except OverflowError:  # a whole number of 309 digits or more: no float holds it
        raise SpecError(f"a {v.bit_length()}-bit whole number is too large for a float") from None


MAX_INT_DIGITS = 400  # far beyond any float (309 digits) or index; longer numbers are refused


def _parse_int(text: str) -> int:
    """json's parse_int: refuse before Python's int-digits limit raises a bare ValueError."""
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise SpecError(f"{text[:20]}... ({len(text)} digits) is too large a number")
    return int(text)


MAX_REF = 24  # "n" and an index: a reference longer than this points to nothing anyway


def _ref(v: object) -> str:
    """A node's argument: a short string (validate checks it names something)."""
    if not isinstance(v, str):
        raise SpecError(f"{v!r:.40} is not a reference (use x<i>, c<i> or n<i>)")
    if len(v) > MAX_REF:
        raise SpecError(f"{v[:20]!r}... is not a reference: too long")
    return v


def _whole(v: object) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SpecError(f"{v!r:.40} is not a whole number")
    return v


def _reject_constant(name: str) -> float:
    raise SpecError(f'{name} is not standard JSON: write it as the string "{name.lower()}"')


def parse_json(text: str) -> object:
    """Standard JSON only (no NaN or Infinity literals); SpecError, one line, for anything else."""
    try:
        return json.loads(text, parse_constant=_reject_constant, parse_int=_parse_int)
    except json.JSONDecodeError as exc:
        raise SpecError(f"not JSON: {exc}") from None
    except RecursionError:
        raise SpecError("not a graph spec: JSON nested too deeply") from None


def _step(d: dict | None) -> Step | None:
    if d is None:
        return None
    return Step(decode_number(d["lr"]), tuple(_whole(i) for i in d["params"]))


_SPEC_FIELDS = tuple(f.name for f in fields(GraphSpec))


def _rebuilt(*values: object) -> GraphSpec:
    """A GraphSpec from the tuples `GraphSpec.__reduce__` gave (it was valid when pickled)."""
    new = object.__new__
    state = dict(zip(_SPEC_FIELDS, values))
    nodes = []
    for op, args, param in state["nodes"]:  # type: ignore[attr-defined]
        node = new(Node)
        node.__dict__.update(op=op, args=args, param=param)
        nodes.append(node)
    state["nodes"] = tuple(nodes)
    spec = new(GraphSpec)
    spec.__dict__.update(state)
    return spec
