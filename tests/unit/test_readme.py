"""The README's snippet prints what the README says it prints."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def test_the_worked_example_snippet_prints_what_the_readme_shows() -> None:
    code, expected = _blocks("python")[0], _blocks("text")[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    assert out.getvalue() == expected


def test_the_quick_start_names_both_commands() -> None:
    quick = _blocks("sh")[0]
    assert "python -m pip install nox" in quick
    assert "nox -s conformance" in quick
    assert "nox -s tests" in quick


def test_the_readme_states_the_default_number_of_random_graphs() -> None:
    from conformance.core.options import RunOptions

    assert f"random graphs (default {RunOptions.cases:,})" in README.read_text()
