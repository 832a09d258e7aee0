"""Hypothesis profiles (quick `ci`, default; `thorough` for local runs), the --runslow option,
and the fixtures that run the command line: in process (`conformance`) or as a real process
(`conformance_process`, `start_conformance`), every started process killed at teardown."""

from __future__ import annotations

import contextlib
import gc
import inspect
import io
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.zygote import (
    RoutedPopen,
    Zygote,
    ZygotePopen,
    fork_compatible,
    route_spawns,
)

ROOT = Path(__file__).resolve().parents[1]

# One thread each for torch and numpy's BLAS, here and in every process the tests start: pytest
# runs a process a core (xdist), and idle threads spinning for work would take the others' cores.
for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_threads, "1")

# A full collection walks every object a test process holds (its tests, modules and the runs
# and oracles the tests cache): about 150 ms each. Each waits for a hundred younger collections
# here rather than ten: 17 full collections in a suite run rather than 80 (3 s, not 12 s).
gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], 100)

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "thorough", max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


pytest_plugins = ["pytester"]  # pytest in process, for the tests of the pytest plugin


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto`: a test process a core, and one more: the end-to-end tests spend seconds waiting
    on timeouts, signals and processes, and the extra one keeps the cores busy meanwhile."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return cores + 1


# Tests that share what their test process computes once (a cache, a module-scoped fixture) run
# in one test process, rather than each process computing it again: a group's name, or PARAM for
# one process per parameter (the corpus runs each engine once, for all its tests).
PARAM = "[param]"
SHARED = {
    "tests/acceptance/test_acceptance.py": "graph-oracles",  # helpers' cases and oracles
    "tests/acceptance/test_zoo.py": "graph-oracles",
    "tests/acceptance/test_corpus.py": PARAM,  # `outcome`
    "tests/acceptance/test_tensors.py": "tensor-cases",
    "tests/unit/test_html_report.py": "report-pages",  # tests/report_pages.py
    "tests/unit/test_html_templates.py": "report-pages",
    "tests/unit/test_junit.py": "report-pages",
    "tests/e2e/test_browser.py": "report-pages",
    "tests/e2e/test_grade.py": "grade",  # module-scoped fixtures
    "tests/e2e/test_grade_jobs.py": "grade-jobs",
    "tests/e2e/test_merge_shards.py": "merge-shards",
    "tests/unit/test_seed_example.py": "seed-example",
}


def shared_scope(nodeid: str) -> str:
    """The unit of work `nodeid` belongs to: its SHARED group, else itself."""
    path, _, rest = nodeid.partition("::")
    group = SHARED.get(path)
    if group == PARAM:
        param = rest.partition("[")[2]
        return f"{path}[{param}" if param else nodeid
    return group or nodeid


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist load` (the default) with SHARED's groups kept together, as `--dist loadgroup` would
    with markers (pytest-xdist 3.8 cannot mark pytest 9.2's node ids). Another --dist: xdist's."""
    if config.getvalue("dist") != "load":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class Shared(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return shared_scope(nodeid)

    return Shared(config, log)  # type: ignore[arg-type]


def pytest_xdist_setupnodes(config: pytest.Config, specs: list) -> None:
    """pytest-xdist's test processes are forks of a template that has imported torch, numpy and
    pandas once, each forked with a zygote of its own (tests/zygote.py), rather than fresh
    interpreters importing them again, twice each."""
    if os.environ.get("CONFORMANCE_TEST_NO_ZYGOTE"):
        return
    template = Zygote("template")
    if not template.usable:
        return
    real = subprocess.Popen
    subprocess.Popen = RoutedPopen.of(template, nest=True)

    def restore() -> None:
        subprocess.Popen = real  # type: ignore[misc]
        template.close()

    config.add_cleanup(restore)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


# --- the command line -------------------------------------------------------------------------

Run = Callable[..., subprocess.CompletedProcess]


def _exit_code(exc: SystemExit) -> int:
    return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


@contextlib.contextmanager
def _terminal_writes_to(stream: io.StringIO) -> Iterator[None]:
    """conformance.report.terminal binds sys.stdout as a default argument when it is imported
    (pytest's capture, here): point those defaults at `stream` for the call."""
    from conformance.report import terminal

    mine = [v for v in vars(terminal).values() if getattr(v, "__module__", "") == terminal.__name__]
    functions = [f for f in mine if inspect.isfunction(f)]
    functions += [c.__init__ for c in mine if inspect.isclass(c) and inspect.isfunction(c.__init__)]
    saved = {f: f.__defaults__ for f in functions if f.__defaults__}
    for f, defaults in saved.items():
        f.__defaults__ = tuple(stream if hasattr(d, "write") else d for d in defaults)
    try:
        yield
    finally:
        for f, defaults in saved.items():
            f.__defaults__ = defaults


@contextlib.contextmanager
def _warnings_as_a_program_has_them() -> Iterator[None]:
    """Python's default warning filters (printed on stderr), not pytest's `error`: the command
    line behaves as it does for a user."""
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", category=ResourceWarning)
        yield


def _in_process(
    *args: str, cwd: Path = ROOT, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """`python -m conformance ARGS` as `conformance.cli.main.main(ARGS)` in this process, from
    `cwd`: the exit code, and what it (and the engine workers it starts) printed.

    `timeout` is accepted for the subprocess fixture's sake; the run's own limits apply."""
    from conformance.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    path, here = list(sys.path), os.getcwd()
    with tempfile.TemporaryFile() as fd1, tempfile.TemporaryFile() as fd2:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        try:  # workers write to the inherited file descriptors: catch those too
            os.dup2(fd1.fileno(), 1)
            os.dup2(fd2.fileno(), 2)
            os.chdir(cwd)
            with (
                contextlib.redirect_stdout(out),
                contextlib.redirect_stderr(err),
                _terminal_writes_to(out),
                _warnings_as_a_program_has_them(),
            ):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # --help
                    code = _exit_code(exc)
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            os.chdir(here)
            sys.path[:] = path  # replay may add a run's folder
        fd1.seek(0)
        fd2.seek(0)
        stdout = out.getvalue() + fd1.read().decode("utf-8", "replace")
        stderr = err.getvalue() + fd2.read().decode("utf-8", "replace")
    return subprocess.CompletedProcess(["conformance", *args], code, stdout, stderr)


@pytest.fixture(scope="session")
def conformance() -> Run:
    """`conformance(*ARGS)`: the command line, in process (no torch import to wait for); a
    CompletedProcess with its exit code, stdout and stderr."""
    return _in_process


class Processes:
    """Processes a test starts; whichever still run at its end are killed. `python -m ...` and
    `python SCRIPT` are forks of the zygote (tests/zygote.py) where they can be: real processes
    of their own without the 2 s of imports."""

    def __init__(self, zygote: Zygote | None = None) -> None:
        self.started: list[subprocess.Popen] = []
        self.zygote = zygote

    def start(
        self, *args: str, cwd: Path = ROOT, text: bool = True, fresh: bool = False, **popen
    ) -> subprocess.Popen:
        """`python ARGS` (PYTHONPATH the project root unless `env` says otherwise), started.
        `fresh`: a new interpreter, for what its imports and their time show."""
        env = popen.pop("env", None) or {**os.environ, "PYTHONPATH": str(ROOT)}
        popen.setdefault("stdout", subprocess.PIPE)
        popen.setdefault("stderr", subprocess.PIPE)
        make = subprocess.Popen
        z = self.zygote
        forkable = z is not None and not fresh and set(popen) <= _FORKABLE
        if forkable and fork_compatible(args, env, z.env):  # type: ignore[union-attr]
            make = ZygotePopen.of(z)
        proc = make([sys.executable, *args], cwd=cwd, env=env, text=text, **popen)
        self.started.append(proc)
        return proc

    def run(self, *args: str, timeout: float = 300, **popen) -> subprocess.CompletedProcess:
        """`python ARGS`, waited for; killed if it outlasts `timeout`."""
        proc = self.start(*args, **popen)
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        finally:
            self.kill(proc)
        return subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)

    @staticmethod
    def kill(proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=30)

    def close(self) -> None:
        for proc in self.started:
            self.kill(proc)
        if self.zygote is not None:
            _reap_orphans({p.pid for p in self.started})


def _reap_orphans(known: set[int]) -> None:
    """Reap the zombies among this process's children that nothing here waits for: orphans of
    the programs the test ran, re-parented to it (a child subreaper, for the zygote's sake)."""
    import multiprocessing

    known |= {p.pid for p in multiprocessing.active_children()}
    known |= {getattr(p, "pid", p) for p in getattr(subprocess, "_active", None) or ()}
    me = str(os.getpid())
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, parent = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        pid = int(stat.parent.name)
        if parent == me and state == "Z" and pid not in known:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


# Popen's arguments a fork honours as an exec would.
_FORKABLE = {"stdin", "stdout", "stderr", "encoding", "errors", "bufsize"}


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote | None]:
    """The session's zygote (tests/zygote.py), or None where it cannot work
    (CONFORMANCE_TEST_NO_ZYGOTE=1 turns it off)."""
    if os.environ.get("CONFORMANCE_TEST_NO_ZYGOTE"):
        yield None
        return
    z = Zygote()
    yield z if z.usable else None
    z.close()


@pytest.fixture(scope="session", autouse=True)
def _spawned_from_the_zygote(zygote: Zygote | None) -> Iterator[None]:
    """The workers and checkers of runs in this process are forks of the zygote (2 s less each)."""
    undo = route_spawns(zygote) if zygote is not None else None
    yield
    if undo is not None:
        undo()


@pytest.fixture
def forked_pythons(zygote: Zygote | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """`subprocess.Popen([sys.executable, ...])` anywhere in this test forks the zygote where a
    fork can be that program (pytest-xdist's workers, which execnet starts as `python -u -c`)."""
    if zygote is not None:
        routed = RoutedPopen.of(zygote)
        monkeypatch.setattr(subprocess, "Popen", routed)


@pytest.fixture
def processes(zygote: Zygote | None) -> Iterator[Processes]:
    """Start `python ...` processes (`.start`, `.run`); all killed when the test ends."""
    procs = Processes(zygote)
    try:
        yield procs
    finally:
        procs.close()


@pytest.fixture
def conformance_process(processes: Processes) -> Run:
    """`conformance_process(*ARGS, timeout=300, cwd=ROOT, env=None, fresh=False)`: `python -m
    conformance ARGS` as a real process, for what only a process shows (exit codes of the
    program, signals, sys.path, resource limits); killed if it outlasts the test."""
    return lambda *args, **kw: processes.run("-m", "conformance", *args, **kw)


@pytest.fixture
def start_conformance(processes: Processes) -> Callable[..., subprocess.Popen]:
    """`start_conformance(*ARGS, cwd=ROOT, env=None, fresh=False)`: `python -m conformance
    ARGS`, started and not waited for; killed when the test ends."""
    return lambda *args, **kw: processes.start("-m", "conformance", *args, **kw)


@pytest.fixture
def start_run_hanging_at_seed_exp(
    start_conformance: Callable[..., subprocess.Popen],
) -> Callable[[Path], subprocess.Popen]:
    """`start_run_hanging_at_seed_exp(OUT)`: a run whose engine hangs in exp, returned once the
    cases before seed-exp (seed-sum, seed-affine, seed-square) are flushed to OUT. (The engine
    does not hang in the probe before the cases: that would only cost the probe's 2 s.)"""

    def start(out: Path) -> subprocess.Popen:
        proc = start_conformance(
            "run", "--engine", "tests.engines.hostile:HangsInExpOnceRunning", "--suite", "examples",
            "--timeout", "60", "--out", str(out),
        )  # fmt: skip
        partial = out / ".conformance.partial.csv"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if partial.exists() and partial.read_text().count("seed-square") >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        return proc

    return start


def _assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert needle in lines[0]


@pytest.fixture(scope="session")
def assert_one_line_error() -> Callable[[subprocess.CompletedProcess, str], None]:
    """`assert_one_line_error(PROC, NEEDLE)`: exit code 2, one line on stderr naming NEEDLE."""
    return _assert_one_line_error
