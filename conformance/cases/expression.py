"""An expression a person types, `(y - (h*w1 + k*w2 + b))**2`, as a graph spec.

Python's `ast` parses the text; nothing is ever evaluated. What is allowed: numbers, names
(the leaves), `+ - * / **`, unary `-` and `+`, and calls of the vocabulary's functions
`exp log tanh sigmoid relu leaky_relu` with one argument. Everything else (attribute access,
other calls, subscripts, lambdas, comprehensions, comparisons, strings) is refused with a
one-line ExprError. `x ** c` with c in {2, 3, -1, 0.5} is the op `powc`; another constant
exponent, or a variable one, is `powv`.

Constant sub-expressions (`2 * 3`, `-1`, `1 / 2`) are folded with the vocabulary's float
functions, never with Python's integer arithmetic, and only within limits: a constant exponent
must lie within ±MAX_EXPONENT, a literal within ±MAX_LITERAL, and every folded value must be
finite. So `9**9**9` is refused at once rather than computed. Equal sub-expressions become one
node, which the graph then reads twice.
"""

from __future__ import annotations

import ast
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from conformance.core.spec import GraphSpec, Node, SpecError
from conformance.core.vocabulary import OPS, POW_EXPONENTS

__all__ = ["FUNCTIONS", "ExprError", "Expression", "parse_at", "parse_expression"]

FUNCTIONS = ("exp", "log", "tanh", "sigmoid", "relu", "leaky_relu")
MAX_CHARS = 4000
MAX_DEPTH = 100  # nesting of the syntax tree
MAX_NODES = 1000
MAX_EXPONENT = 16.0
MAX_LITERAL = 1e300

_BINARY = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow"}
_WORDS = {
    ast.Attribute: "attribute access", ast.Subscript: "indexing", ast.Slice: "slicing",
    ast.Lambda: "a lambda", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator", ast.Compare: "a comparison",
    ast.BoolOp: "and / or", ast.IfExp: "if-else", ast.NamedExpr: ":=", ast.Starred: "*",
    ast.List: "a list", ast.Tuple: "a tuple", ast.Dict: "a dict", ast.Set: "a set",
    ast.JoinedStr: "an f-string", ast.Await: "await",
}  # fmt: skip
_OPERATORS = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^", ast.Not: "not", ast.Invert: "~",
}  # fmt: skip
ALLOWED = "numbers, names, + - * / **, and " + " ".join(FUNCTIONS)


class ExprError(ValueError):
    """An expression or --at value that cannot be checked: one line for the user."""


@dataclass(frozen=True)
class Expression:
    """A parsed expression: its variables in order of appearance, and its graph without values."""

    text: str
    names: tuple[str, ...]
    nodes: tuple[Node, ...]
    consts: tuple[float, ...]
    output: str

    def spec(self, values: dict[str, float], order: Sequence[str] = ()) -> GraphSpec:
        """The graph at `values` (one per variable, ExprError otherwise); the leaves in `order`
        (the order the values were given), then any others in order of appearance."""
        unknown = [n for n in values if n not in self.names]
        if unknown:
            raise ExprError(
                f"--at names {', '.join(unknown)}, which the expression does not use; its "
                f"variables are {', '.join(self.names)}"
            )
        missing = [n for n in self.names if n not in values]
        if missing:
            given = ",".join(f"{n}=VALUE" for n in missing)
            raise ExprError(f"no value for {', '.join(missing)}: add --at {given}")
        leaves = [n for n in order if n in self.names]
        leaves += [n for n in self.names if n not in leaves]
        rename = {f"x{self.names.index(n)}": f"x{i}" for i, n in enumerate(leaves)}
        nodes = tuple(
            Node(n.op, tuple(rename.get(a, a) for a in n.args), n.param) for n in self.nodes
        )
        try:
            return GraphSpec(
                leaves=tuple(values[n] for n in leaves),
                nodes=nodes,
                output=rename.get(self.output, self.output),
                consts=self.consts,
                leaf_names=tuple(leaves),
            )
        except SpecError as exc:  # cannot happen for a parsed expression; said plainly if it does
            raise ExprError(f"the expression makes no valid graph: {exc}") from None


def _fmt(x: float) -> str:
    return repr(int(x)) if x.is_integer() and abs(x) < 1e16 else repr(x)


class _Builder:
    """Turns the syntax tree into nodes; a value is a float (a constant, folded) or a ref."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.consts: list[float] = []
        self.nodes: list[Node] = []
        self.memo: dict[tuple, str] = {}

    def leaf(self, name: str) -> str:
        if name not in self.names:
            self.names.append(name)
        return f"x{self.names.index(name)}"

    def const(self, value: float) -> str:
        for i, c in enumerate(self.consts):  # -0.0 and 0.0 stay apart
            if c == value and math.copysign(1, c) == math.copysign(1, value):
                return f"c{i}"
        self.consts.append(value)
        return f"c{len(self.consts) - 1}"

    def ref(self, v: float | str) -> str:
        return self.const(v) if isinstance(v, float) else v

    def node(self, op: str, args: Iterable[float | str], param: float | None = None) -> str:
        refs = tuple(self.ref(a) for a in args)
        key = (op, refs, param)
        if key not in self.memo:
            if len(self.nodes) >= MAX_NODES:
                raise ExprError(f"the expression has over {MAX_NODES} operations")
            self.nodes.append(Node(op, refs, param))
            self.memo[key] = f"n{len(self.nodes) - 1}"
        return self.memo[key]

    def fold(self, op: str, xs: list[float], param: float | None, text: str) -> float:
        value = OPS[op].forward(xs, param)
        if not math.isfinite(value):
            raise ExprError(f"the constant part {text} is {value}, not a finite number")
        return float(value)

    def visit(self, node: ast.AST, depth: int) -> float | str:
        if depth > MAX_DEPTH:
            raise ExprError(f"the expression is nested more than {MAX_DEPTH} deep")
        if isinstance(node, ast.Constant):
            return _literal(node.value)
        if isinstance(node, ast.Name):
            if node.id in FUNCTIONS:
                raise ExprError(f"{node.id} is a function: call it, as in {node.id}(x)")
            return self.leaf(node.id)
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand, depth + 1)
            if isinstance(node.op, ast.UAdd):
                return operand
            if not isinstance(node.op, ast.USub):
                raise ExprError(_refused(node.op))
            return -operand if isinstance(operand, float) else self.node("neg", [operand])
        if isinstance(node, ast.BinOp):
            op = _BINARY.get(type(node.op))
            if op is None:
                raise ExprError(_refused(node.op))
            left = self.visit(node.left, depth + 1)
            right = self.visit(node.right, depth + 1)
            if op == "pow":
                return self.power(left, right, node)
            if isinstance(left, float) and isinstance(right, float):
                return self.fold(op, [left, right], None, _source(node))
            return self.node(op, [left, right])
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise ExprError(_refused(node))

    def power(self, base: float | str, exponent: float | str, node: ast.BinOp) -> float | str:
        if isinstance(exponent, float):
            if not abs(exponent) <= MAX_EXPONENT:
                raise ExprError(
                    f"the exponent {_fmt(exponent)} in {_source(node)} is outside the range "
                    f"±{MAX_EXPONENT:g} that check accepts"
                )
            if isinstance(base, float):
                return self.fold("powv", [base, exponent], None, _source(node))
            if exponent in POW_EXPONENTS:
                return self.node("powc", [base], exponent)
        return self.node("powv", [base, exponent])

    def call(self, node: ast.Call, depth: int) -> float | str:
        func = node.func
        if not isinstance(func, ast.Name):
            what = "attribute access" if isinstance(func, ast.Attribute) else "this call"
            raise ExprError(f"{what} is not allowed: use {ALLOWED}")
        if func.id not in FUNCTIONS:
            raise ExprError(
                f"{func.id}() is not in the vocabulary: the functions are {', '.join(FUNCTIONS)}"
            )
        if node.keywords or len(node.args) != 1 or isinstance(node.args[0], ast.Starred):
            raise ExprError(f"{func.id}() takes exactly one argument, as in {func.id}(x)")
        arg = self.visit(node.args[0], depth + 1)
        if isinstance(arg, float):
            return self.fold(func.id, [arg], None, _source(node))
        return self.node(func.id, [arg])


def _literal(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        kind = "a string" if isinstance(value, (str, bytes)) else type(value).__name__
        raise ExprError(f"{value!r:.40} is {kind}, not a number: use {ALLOWED}")
    if isinstance(value, int) and abs(value) > MAX_LITERAL:
        raise ExprError(f"a number with {len(str(value))} digits is too large (limit 1e300)")
    if not math.isfinite(value) or abs(value) > MAX_LITERAL:
        raise ExprError(f"the number {value!r} is too large (limit 1e300)")
    return float(value)


def _refused(node: ast.AST) -> str:
    if type(node) in _OPERATORS:
        return f"the operator {_OPERATORS[type(node)]} is not in the vocabulary: use {ALLOWED}"
    what = _WORDS.get(type(node), type(node).__name__)
    return f"{what} is not allowed in an expression: use {ALLOWED}"


def _source(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # unparse of a strange tree: the message does without it
        return "a constant part"
    return text if len(text) <= 60 else text[:57] + "..."


def parse_expression(text: str) -> Expression:
    """Parse `text` into an Expression; ExprError (one line) for anything outside the grammar."""
    if len(text) > MAX_CHARS:
        raise ExprError(f"the expression is {len(text)} characters long (limit {MAX_CHARS})")
    if not text.strip():
        raise ExprError("the expression is empty")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"not an expression: {exc.msg} (at column {exc.offset})") from None
    except (RecursionError, MemoryError):
        raise ExprError("not an expression: nested too deeply") from None
    except ValueError as exc:  # a null byte, say
        raise ExprError(f"not an expression: {exc}") from None
    builder = _Builder()
    out = builder.visit(tree.body, 0)
    if isinstance(out, float):
        raise ExprError("the expression has no variable: nothing to differentiate")
    return Expression(
        text=text.strip(),
        names=tuple(builder.names),
        nodes=tuple(builder.nodes),
        consts=tuple(builder.consts),
        output=out,
    )


def parse_at(texts: Sequence[str]) -> dict[str, float]:
    """`--at h=1,k=-3 --at y=10` as {name: value}, in the order given; ExprError when bad."""
    values: dict[str, float] = {}
    for text in texts:
        for part in text.split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, number = (s.strip() for s in part.partition("="))
            if not sep or not name:
                raise ExprError(f"--at wants NAME=VALUE, got {part!r:.60}")
            if not name.isidentifier():
                raise ExprError(f"--at: {name!r:.40} is not a variable name")
            # Python reads the identifier `ｘ` in the expression as `x` (NFKC); so must --at.
            name = unicodedata.normalize("NFKC", name)
            if name in values:
                raise ExprError(f"--at gives {name} twice")
            try:
                values[name] = float(number)
            except ValueError:
                raise ExprError(f"--at {name}={number!r:.40} is not a number") from None
    return values
