"""The package's layering: stages import only backwards, without cycles."""

from __future__ import annotations

import ast
from pathlib import Path

from tests import layers


def test_the_package_follows_its_layers() -> None:
    assert layers.violations() == []


def test_the_check_finds_an_import_up_the_pipeline_and_a_cycle(tmp_path: Path, monkeypatch) -> None:
    package = tmp_path / "conformance"
    for stage in ("core", "run"):
        (package / stage).mkdir(parents=True)
        (package / stage / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "core" / "a.py").write_text("def f():\n    from conformance.run.b import g\n")
    (package / "run" / "b.py").write_text("from conformance.core.a import f\ng = 1\n")
    monkeypatch.setattr(layers, "PACKAGE", package)
    problems = layers.violations()
    assert any("stage core) imports conformance.run.b" in p for p in problems), problems
    assert any(p.startswith("import cycle: ") for p in problems), problems


def test_every_stage_folder_is_a_known_stage() -> None:
    folders = {p.name for p in layers.PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert folders == set(layers.STAGES)
    for stage in layers.STAGES:  # each says what it holds, in its package docstring
        doc = ast.get_docstring(ast.parse((layers.PACKAGE / stage / "__init__.py").read_text()))
        assert doc, stage
