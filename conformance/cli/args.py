"""What every command shares: the parser with one-line errors, the option types, the epilog."""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable

from conformance.core.dtypes import DTYPES, SUPPORTED
from conformance.core.options import (
    ALL_SUITES,
    DTYPE_SUITES,
    LAYER_SUITES,
    MAX_CASES,
    MAX_MAX_NODES,
    MAX_SECONDS,
    SUITE_NAMES,
    TENSOR_SUITES,
)

__all__ = [
    "EPILOG",
    "Parser",
    "UsageError",
    "count",
    "max_nodes_type",
    "positive_int",
    "seconds",
    "seed",
    "shard",
    "suites",
    "suites_for_engine",
    "whole",
]

EPILOG = """exit codes: 0 nothing failed; 1 a fail, error or xpass; 2 bad options or input;
3 nothing was checked; 130 interrupted (the rows so far are written)"""


class UsageError(Exception):
    """A bad option or input: one line on stderr, exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse with a one-line error that names the command's own --help."""

    @staticmethod
    def _help_for(prog: str) -> str:
        """`python -m conformance run --help` for prog "conformance run"."""
        return " ".join(["python -m conformance", *prog.split()[1:], "--help"])

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As argparse's; unknown options are blamed on the command they were given to."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:  # argparse would report them from the top parser, hinting at its --help
            command = getattr(parsed, "command", None)
            prog = f"{self.prog} {command}" if command else self.prog
            message = f"unrecognized arguments: {' '.join(extras)}"
            raise UsageError(f"{message} (see `{self._help_for(prog)}`)")
        return parsed

    def error(self, message: str) -> None:  # one line, not usage + message
        raise UsageError(f"{message} (see `{self._help_for(self.prog)}`)")


def whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number of at least `minimum` and at most `maximum`."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            need = "must not be negative" if minimum == 0 else f"must be at least {minimum}"
            raise argparse.ArgumentTypeError(f"{text!r} {need}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{text!r} is more than the limit, {maximum:,}")
        return value

    return parse


positive_int = whole(1)
count = whole(0, MAX_CASES)
max_nodes_type = whole(1, MAX_MAX_NODES)


def seed(text: str) -> int:
    if text == "random":
        return secrets.randbelow(2**31)
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number or 'random'") from None


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be more than 0 seconds")
    if not value <= MAX_SECONDS:  # inf and 1e10 overflow the waits (OverflowError in a thread)
        raise argparse.ArgumentTypeError(f"{text!r} is more than the limit, {MAX_SECONDS:g} s")
    return value


def shard(text: str) -> tuple[int, int]:
    k, sep, n = text.partition("/")
    try:
        shard = int(k), int(n)
    except ValueError:
        shard = None
    if not sep or shard is None or not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(f"{text!r} is not K/N with 1 <= K <= N, like 2/4")
    return shard


def suites(text: str) -> tuple[str, ...]:
    names = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = [s for s in names if s not in ALL_SUITES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown suite {', '.join(unknown) or repr(text)}; choose from {', '.join(ALL_SUITES)}"
        )
    return names


def dtype(text: str) -> str:
    """An argparse type: a dtype `--dtype` supports (see core.dtypes)."""
    if text in SUPPORTED:
        return text
    if text in DTYPES:
        raise argparse.ArgumentTypeError(
            f"{text} engines are not supported yet; choose from {', '.join(SUPPORTED)}"
        )
    raise argparse.ArgumentTypeError(f"unknown dtype {text!r}; choose from {', '.join(SUPPORTED)}")


# The suites a dtype other than float64 checks so far: random and one-op graphs. The edge cases,
# neurons and training need their own versions in that precision (overflow of exp at 88.7 in
# float32, not 709.8).


def suites_for_engine(given: tuple[str, ...] | None, engine: str) -> tuple[str, ...] | None:
    """The layers suite for a layer engine (`layers:...`), the tensors suite for a tensor
    engine (`tensors:...`), which have no other; ValueError when the suites given and the kind
    of engine do not go together."""
    own = {"layers:": (LAYER_SUITES, "a layer engine", "a module of layer functions"),
           "tensors:": (TENSOR_SUITES, "a tensor engine", "a Tensor class")}  # fmt: skip
    kind = next((p for p in own if engine.startswith(p)), None)
    if given is None:
        return own[kind][0] if kind else None
    if kind is not None:
        wrong = [s for s in given if s not in own[kind][0]]
        if wrong:
            raise ValueError(
                f"{own[kind][1]} runs the {own[kind][0][0]} suite, not {', '.join(wrong)}: leave "
                "--suite out"
            )
        return given
    for prefix, (suites, _, what) in own.items():
        if any(s in suites for s in given):
            raise ValueError(
                f"the {suites[0]} suite checks {what}: name it with --engine {prefix}FILE.py "
                "(see the README)"
            )
    return given


def suites_for_dtype(given: tuple[str, ...] | None, dtype: str) -> tuple[str, ...]:
    """The suites to run: those given, else every suite (float64) or those of DTYPE_SUITES;
    UsageError-worthy ValueError for a suite the dtype does not cover yet."""
    if dtype == "float64":
        return given or SUITE_NAMES
    if given is None:
        return DTYPE_SUITES
    beyond = [s for s in given if s not in DTYPE_SUITES]
    if beyond:
        raise ValueError(
            f"--dtype {dtype} checks the {' and '.join(DTYPE_SUITES)} suites so far, not "
            f"{', '.join(beyond)}: leave --suite out, or give --suite {','.join(DTYPE_SUITES)}"
        )
    return given
