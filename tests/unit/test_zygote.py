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
import time
from pathlib import Path

import pytest

import tests.zygote
from tests.conftest import Processes
from tests.zygote import REAL_SPAWN, RoutedPopen, Zygote, ZygotePopen, fork_compatible

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
    return ZygotePopen.of(zygote)


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
        f'  File "{tmp_path / "boom.py"}", line 1, in <module>',  # absolute, as python makes it
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
    assert fork_compatible(("-u", "-c", "pass"), env)  # pytest-xdist's workers
    assert not fork_compatible(("-X", "importtime", "-c", "pass"), env)
    assert not fork_compatible(("-u",), env)
    assert not fork_compatible(("-m",), env)
    assert not fork_compatible(("script.py",), {**env, "PYTHONIOENCODING": "latin-1"})
    assert not fork_compatible(("script.py",), {**env, "LC_ALL": "C"})
    # Against the environment the zygote started with, not this process's as it is now.
    assert not fork_compatible(("script.py",), env, {**env, "PYTHONHASHSEED": "1"})


ENDING = textwrap.dedent("""
    import atexit, multiprocessing, sys, threading, time
    import numpy
    def work():
        time.sleep(0.3)
        print("thread", flush=True)
    def child():
        pass
    if __name__ == "__main__":
        print(__file__, numpy.random.random())
        p = multiprocessing.get_context("spawn").Process(target=child)  # finds this script anew
        p.start()
        p.join()
        print("worker", p.exitcode)
        atexit.register(lambda: print("atexit"))
        threading.Thread(target=work).start()
""")


def test_a_script_ends_as_python_ends_it(forked, tmp_path: Path) -> None:
    (tmp_path / "ending.py").write_text(ENDING)
    outs = []
    for _ in range(2):
        proc = forked([sys.executable, "ending.py"], cwd=tmp_path, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True)  # fmt: skip
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out.split())
    first, second = outs
    # __file__ absolute; a worker that imports the script by it; the thread joined before atexit.
    assert first[0] == str(tmp_path / "ending.py")
    assert first[2:] == ["worker", "0", "thread", "atexit"]
    assert first[1] != second[1]  # numpy drawn afresh in each, not from the zygote's state


def test_a_missing_module_or_script_is_said_as_python_says_it(forked, tmp_path: Path) -> None:
    for args, code, said in (
        (["-m", "no_such_module"], 1, "No module named no_such_module"),
        (["gone.py"], 2, f"can't open file {str(tmp_path / 'gone.py')!r}: [Errno 2]"),
    ):
        proc = forked([sys.executable, *args], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code and err.startswith(f"{sys.executable}: {said}"), err


def test_a_request_of_any_size_is_served_and_the_next_still_forks(forked, tmp_path) -> None:
    where = "import os, sys; print(len(os.environ['BIG']), 'torch' in sys.modules)"
    for big in ("x" * 300_000, "y"):
        proc = forked([sys.executable, "-c", where], env={**os.environ, "BIG": big},
                      stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.communicate(timeout=60)[0].split() == [str(len(big)), "True"]


def test_what_the_zygote_cannot_do_starts_a_fresh_python(forked, tmp_path) -> None:
    with pytest.raises(FileNotFoundError):  # as subprocess says it, not as the zygote would
        forked([sys.executable, "-c", "pass"], cwd=tmp_path / "missing")


def test_an_interrupted_request_leaves_no_reply_for_the_next(zygote, monkeypatch) -> None:
    if zygote is None:
        pytest.skip("no zygote on this platform")
    # A zygote of this test's own, which imports nothing: the interrupt ends it, and the next
    # request starts another.
    mine = Zygote("bare")
    forked = ZygotePopen.of(mine)
    real = tests.zygote._receive

    def interrupted(sock):
        monkeypatch.setattr(tests.zygote, "_receive", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(tests.zygote, "_receive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        forked([sys.executable, "-c", "pass"], stdout=subprocess.DEVNULL)
    proc = forked([sys.executable, "-c", "import os; print(os.getpid())"],
                  stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.communicate(timeout=120)[0].strip() == str(proc.pid)
    finally:
        mine.close()


def test_orphans_of_a_program_are_reaped_when_the_test_ends(zygote: Zygote | None) -> None:
    if zygote is None:
        pytest.skip("no zygote on this platform")
    procs = Processes(zygote)
    start = "import subprocess, sys; print(subprocess.Popen([sys.executable, '-c', 'pass']).pid)"
    orphan = int(procs.run("-c", start, timeout=60).stdout)
    stat = Path(f"/proc/{orphan}/stat")
    deadline = time.monotonic() + 30
    while stat.read_text().rsplit(")", 1)[1].split()[:2] != ["Z", str(os.getpid())]:
        assert time.monotonic() < deadline, stat.read_text()  # a zombie of this process's
        time.sleep(0.05)
    procs.close()
    assert not stat.exists()


UNBUFFERED = (
    "import sys; print(type(sys.stdout.buffer).__name__, sys.stdout.write_through, sys.argv,"
    " 'torch' in sys.modules, end=' '); sys.stdin.read()"
)


def test_a_routed_popen_forks_a_plain_python_and_starts_the_rest(zygote, tmp_path: Path) -> None:
    if zygote is None:
        pytest.skip("no zygote on this platform")
    routed = RoutedPopen.of(zygote)
    # As execnet starts pytest-xdist's workers: a fork (torch imported ahead), stdout unbuffered.
    proc = routed([sys.executable, "-u", "-c", UNBUFFERED], stdin=subprocess.PIPE,
                  stdout=subprocess.PIPE)  # fmt: skip
    try:
        said = proc.stdout.read(len("FileIO True ['-c'] True "))  # before it ends: not buffered
    finally:
        proc.communicate(timeout=60)
    assert said == b"FileIO True ['-c'] True "
    # What a fork would not honour (a new session, a shell, another program) starts as asked.
    fresh = routed([sys.executable, "-c", "import os, sys; print(os.getsid(0) == os.getpid(), "
                    "'torch' in sys.modules)"], stdout=subprocess.PIPE, text=True,
                   start_new_session=True)  # fmt: skip
    assert fresh.communicate(timeout=60)[0].split() == ["True", "False"]
    shell = routed("echo $0", shell=True, stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    assert shell.communicate(timeout=60)[0].strip() == "/bin/sh"


def test_a_test_process_is_a_fork_of_the_template_with_a_zygote_of_its_own(
    zygote: Zygote | None,
) -> None:
    """Under pytest-xdist (conftest's `pytest_xdist_setupnodes`): this process is a fork of the
    template, which came with a zygote of its own, taken by the session's Zygote. (Another test
    may have ended that zygote since; the tests above show what its forks are.)"""
    if zygote is None or "PYTEST_XDIST_WORKER" not in os.environ:
        pytest.skip("only pytest-xdist's test processes are forked from the template")
    command = Path("/proc/self/cmdline").read_bytes().split(b"\0")
    assert command[1].endswith(b"zygote.py") and command[3] == b"template"
    assert tests.zygote.NESTED not in os.environ  # taken, and not passed on
    assert zygote.adopted is not None
