"""Sessions: `conformance` (the main job and CI gate), `tests`, `lint`, `bench`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "conformance"]

ROOT = Path(__file__).parent
CONSTRAINTS = ("-c", "constraints.txt")
_SOURCES = ("conformance", "refimpl", "benchmarks", "tests")


def _install(session: nox.Session, *args: str) -> None:
    """Install `args` with the constraints, unless this reused virtualenv already has them."""
    recipe = "\n".join(args).encode()
    for name in ("pyproject.toml", "constraints.txt"):
        recipe += (ROOT / name).read_bytes()
    digest = hashlib.sha256(recipe).hexdigest()
    stamp = Path(session.virtualenv.location) / ".installed"
    if stamp.exists() and stamp.read_text() == digest:
        session.log("dependencies unchanged: reusing the virtualenv as it is")
        return
    session.install(*CONSTRAINTS, *args)
    stamp.write_text(digest)


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the conformance suite on an engine (refimpl by default); its exit code is the gate.

    refimpl follows torch to the last convention, so it is gated with --strict; an engine named
    in the options gets the default gate (wrong math), unless --strict is given too.
    """
    _install(session, "-e", ".")
    args = list(session.posargs)
    if not any(a.startswith(("--engine", "--strict")) for a in args):
        args.append("--strict")
    session.run("python", "-m", "conformance", "run", *args)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the project's own tests (see tests/README.md)."""
    _install(session, "-e", ".[test]")
    # Bytecode cached in this virtualenv, never beside the sources, even where the environment
    # says not to write it: otherwise every test process, and every program the tests start,
    # compiles the project's modules anew (2 s of a test process's 6.5 s start, measured).
    session.env["PYTHONPYCACHEPREFIX"] = str(Path(session.virtualenv.location) / "pycache")
    session.env["PYTHONDONTWRITEBYTECODE"] = ""
    session.run("python", "-m", "compileall", "-q", "-j", "0", *_SOURCES, silent=True)
    session.run("pytest", *session.posargs)  # in parallel: -n auto in pyproject's addopts


@nox.session
def lint(session: nox.Session) -> None:
    """Check lint and formatting with ruff, and that the package's stages import only backwards."""
    _install(session, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("python", "tests/layers.py")


@nox.session
def bench(session: nox.Session) -> None:
    """Time refimpl against micrograd and torch in the same run; print the ratios."""
    _install(session, "-e", ".[bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
