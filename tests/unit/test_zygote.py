"""The zygote the end-to-end tests start their processes from (tests/zygote.py): what a program
sees in a fork of it is what it sees in a fresh `python`, where the tests look."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.zygote import REAL_SPAWN, Zygote, ZygotePopen, fork_compatible

PROBE = textwrap.dedent("""
    import json, os, sys
    print(json.dumps({"argv": sys.argv, "path0": sys.path[0], "cwd": os.getcwd(),
                      "ppid": os.getppid(), "var": os.environ.get("ZYGOTE_TEST"),
                      "engines": sorted(m for m in sys.modules if m.startswith("tests"))}))
    sys.stderr.write("to stderr\\n")
    sys.exit(int(os.environ.get("EXIT", "0")))
""")


@pytest.fixture
def forked(zygote: Zygote | None):
    if zygote is None:
        pytest.skip("no zygote on this platform")
    return type("Forked", (ZygotePopen,), {"zygote": zygote})


def _probe(forked, tmp_path: Path, *args: str, **env: str) -> tuple[dict, str, int]:
    proc = forked([sys.executable, *args], cwd=tmp_path, env={**os.environ, **env},
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    out, err = proc.communicate(timeout=60)
    return json.loads(out), err, proc.returncode


def test_a_script_sees_its_argv_folder_environment_and_parent(forked, tmp_path: Path) -> None:
    (tmp_path / "probe.py").write_text(PROBE)
    seen, err, code = _probe(forked, tmp_path, "probe.py", "a", ZYGOTE_TEST="yes", EXIT="3")
    assert seen["argv"] == ["probe.py", "a"]
    assert seen["path0"] == str(tmp_path) and seen["cwd"] == str(tmp_path)
    assert seen["var"] == "yes" and seen["ppid"] == os.getpid()  # this process's own child
    assert seen["engines"] == []  # nothing of the tests is imported ahead
    assert err == "to stderr\n" and code == 3


def test_a_module_run_with_m_has_the_folder_first_on_sys_path(forked, tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__main__.py").write_text(PROBE)
    seen, _, code = _probe(forked, tmp_path, "-m", "pkg", "x", PYTHONPATH=str(tmp_path))
    assert seen["argv"] == [str(tmp_path / "pkg" / "__main__.py"), "x"]
    assert seen["path0"] == str(tmp_path) and code == 0


def test_a_traceback_is_pythons_and_a_signal_ends_it(forked, tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text("raise ValueError('boom')\n")
    proc = forked([sys.executable, "boom.py"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 1
    assert err.splitlines() == [
        "Traceback (most recent call last):",
        '  File "boom.py", line 1, in <module>',
        "    raise ValueError('boom')",
        "ValueError: boom",
    ]
    sleeper = forked([sys.executable, "-c", "import time; time.sleep(60)"])
    sleeper.send_signal(signal.SIGTERM)
    assert sleeper.wait(timeout=30) == -signal.SIGTERM


def _where() -> None:
    print(os.getppid(), "torch" in sys.modules, flush=True)  # imported ahead: a fork of it


def test_multiprocessing_spawns_come_from_it_unless_asked(zygote, tmp_path, monkeypatch) -> None:
    if zygote is None:
        pytest.skip("no zygote on this platform")
    spawn = multiprocessing.get_context("spawn")
    out = tmp_path / "out"
    for real in (False, True):
        if real:
            monkeypatch.setenv(REAL_SPAWN, "1")
        with out.open("a") as f, _stdout_to(f):
            p = spawn.Process(target=_where)
            p.start()
            p.join(60)
        assert p.exitcode == 0
    assert out.read_text().split() == [str(os.getpid()), "True", str(os.getpid()), "False"]


class _stdout_to:
    """fd 1 pointed at `f` inside (a spawned child writes to the inherited descriptor)."""

    def __init__(self, f) -> None:
        self.f, self.saved = f, -1

    def __enter__(self) -> None:
        sys.stdout.flush()
        self.saved = os.dup(1)
        os.dup2(self.f.fileno(), 1)

    def __exit__(self, *exc: object) -> None:
        os.dup2(self.saved, 1)
        os.close(self.saved)


def test_only_what_a_fork_can_give_is_forked() -> None:
    env = dict(os.environ)
    assert fork_compatible(("-m", "conformance", "run"), env)
    assert fork_compatible(("script.py",), {**env, "PYTHONPATH": "/elsewhere"})
    assert not fork_compatible(("-X", "importtime", "-c", "pass"), env)
    assert not fork_compatible(("-m",), env)
    assert not fork_compatible(("script.py",), {**env, "PYTHONIOENCODING": "latin-1"})
    assert not fork_compatible(("script.py",), {**env, "LC_ALL": "C"})
    # Against the environment the zygote started with, not this process's as it is now.
    assert not fork_compatible(("script.py",), env, {**env, "PYTHONHASHSEED": "1"})
