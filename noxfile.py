"""Sessions: `conformance` (the main job and CI gate), `tests`, `lint`, `bench`."""

from __future__ import annotations

import nox

nox.options.reuse_venv = "yes"
nox.options.sessions = ["tests", "conformance"]

CONSTRAINTS = ("-c", "constraints.txt")


def _install(session: nox.Session, extras: str = "") -> None:
    target = f".[{extras}]" if extras else "."
    session.install(*CONSTRAINTS, "-e", target)


@nox.session
def conformance(session: nox.Session) -> None:
    """Run the conformance suite on an engine (refimpl by default); its exit code is the gate."""
    _install(session)
    session.run("python", "-m", "conformance", "run", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the project's own tests."""
    _install(session, "test")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check lint and formatting with ruff."""
    session.install(*CONSTRAINTS, "ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def bench(session: nox.Session) -> None:
    """Time refimpl against micrograd and torch in the same run; print the ratios."""
    _install(session, "bench")
    session.run("python", "-m", "benchmarks", *session.posargs)
