"""A process that has imported torch, pandas and the suite once, and forks a fresh `python ...`
for each end-to-end test that asks: the program runs in a real process of its own (its own pid,
exit code, signals, file descriptors, environment, working folder and sys.path), without paying
the 2 s of imports each time. Linux only; elsewhere, or when asked for what a fork cannot give
(another interpreter, a PYTHON* or locale variable read at start-up), tests start the real thing.

How a fork becomes the test's own child: the test process is made a child subreaper; the zygote
forks an intermediate, which forks the program and exits; the program is then re-parented to the
test process, which waits for it like any `subprocess.Popen` child (`ZygotePopen`).

What a fork does not give as a fresh `python` would: its own hash seed (every fork shares the
zygote's; numpy's global random state is reseeded), its own command line (/proc shows the
zygote's), and PR_SET_PDEATHSIG as a fresh one has it (a fork's follows the test process's main
thread rather than the thread that asked). Tests of these use `fresh=True`, or REAL_SPAWN in the
environment. When the zygote
cannot serve a request, the process is started anew.

pytest-xdist's test processes are forks too, of a template (`python tests/zygote.py FD
template`, which imports only LIBRARIES: pytest must import the suite's own modules itself, to
rewrite their assertions), started by the controller (`pytest_xdist_setupnodes` in conftest.py).
Each is forked with a zygote of its own, its child (`nest`), which it takes as its Zygote.

Run as a script, this file is the zygote: `python tests/zygote.py FD`, FD its end of a socket.
Each request is an 8-byte length and a JSON body, the descriptors sent with the length.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import inspect
import io
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

ROOT = Path(__file__).resolve().parents[1]
# What every program the tests start imports anyway (the CLI's run, its checkers and reports).
# A template (pytest-xdist's test processes are its forks) imports only the libraries: pytest
# rewrites the assertions of the suite's own modules, which must not be imported ahead of it.
LIBRARIES = ("numpy", "torch", "pandas", "jinja2")
PRELOAD = (
    *LIBRARIES, "conformance.cli.main", "conformance.run.pipeline", "conformance.run.parallel",
    "conformance.report.writers", "conformance.report.html.page", "conformance.failures.replay",
    "conformance.checks.judge",
)  # fmt: skip
# What a zygote of each kind imports before it forks (`python tests/zygote.py FD [KIND]`).
_IMPORTS = {"": PRELOAD, "template": LIBRARIES, "bare": ()}
# Variables a fresh interpreter reads as it starts, which a fork cannot change afterwards.
_AT_START = ("PYTHON", "LC_", "LANG", "OPENBLAS", "OMP_", "MKL_")
_PR_SET_CHILD_SUBREAPER = 36
# Set in the environment, multiprocessing's processes are spawned anew.
REAL_SPAWN = "CONFORMANCE_TEST_REAL_SPAWN"
# "FD PID": the socket and pid of a zygote forked along with this process (`nest`), taken by
# the first Zygote made here.
NESTED = "CONFORMANCE_TEST_ZYGOTE"


def fork_compatible(args: tuple[str, ...], env: dict[str, str], base: dict | None = None) -> bool:
    """Whether `python ARGS` with `env` can be a fork of a zygote started with `base` (this
    process's environment by default): `-m MODULE`, `-c CODE` or a script, after `-u` if any, and
    no difference in what only a starting interpreter reads."""
    base = dict(os.environ) if base is None else base
    args = _program(args)
    flag = args[:1] in (("-m",), ("-c",))
    if not args or (flag and len(args) < 2) or (not flag and args[0].startswith("-")):
        return False
    changed = {k for k in set(env) | set(base) if env.get(k) != base.get(k)}
    return not any(k.startswith(_AT_START) for k in changed - {"PYTHONPATH"})


def _program(args: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """ARGS without the leading flags a fork honours (`-u`: stdout and stderr unbuffered)."""
    args = tuple(args)
    while args[:1] == ("-u",):
        args = args[1:]
    return args


class Zygote:
    """The test process's end: starts the zygote on first use (or takes the one forked along
    with this process), asks it for forks. A zygote of `kind` "template" imports only LIBRARIES,
    a "bare" one nothing (for tests of the zygote itself); the default one PRELOAD."""

    def __init__(self, kind: str = "") -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None
        self._nested: int | None = None  # the pid of a zygote forked along with this process
        self._kind = kind
        self.usable = sys.platform == "linux" and _become_subreaper()
        nested = [] if kind else os.environ.pop(NESTED, "").split()
        if nested and self.usable:
            self._sock, self._nested = socket.socket(fileno=int(nested[0])), int(nested[1])
        self.adopted = self._nested  # the zygote this process was forked with, if any
        # The environment it starts with (whenever it starts): forks compare theirs with it.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def _start(self) -> socket.socket:
        mine, theirs = socket.socketpair()
        kind = [self._kind] if self._kind else []
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(theirs.fileno()), *kind],
            pass_fds=[theirs.fileno()], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        theirs.close()
        return mine

    def spawn(
        self,
        args: list[str],
        cwd: str,
        env: dict[str, str],
        fds: list[int],
        keep: tuple = (),
        nest: bool = False,
    ) -> int:
        """Fork `python ARGS` in `cwd` with `env`, stdin/stdout/stderr `fds[:3]`, and the
        descriptors `keep` (`fds[3:]`) under the same numbers; its pid, a child of this process.
        `nest`: fork a zygote of its own along with it (its child, found through NESTED).
        OSError when the zygote cannot: the caller starts the process anew. Whatever goes wrong
        mid-request (an interrupt too) ends this zygote, so no reply is left for the next one."""
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = self._start()
                mask = sorted(int(n) for n in signal.pthread_sigmask(signal.SIG_BLOCK, ()))
                request = {"args": args, "cwd": cwd, "env": env, "keep": list(keep), "mask": mask,
                           "nest": nest}  # fmt: skip
                _send(self._sock, json.dumps(request).encode(), fds)
                answer = json.loads(_receive(self._sock)[0])
            except BaseException:
                self._end()
                raise
        if "error" in answer:
            raise OSError(answer["error"])
        return int(answer["pid"])

    def _end(self) -> None:
        """Stop this zygote; the next spawn starts another."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._nested is not None:
            with contextlib.suppress(OSError):
                os.kill(self._nested, signal.SIGKILL)
                os.waitpid(self._nested, 0)
            self._nested = None

    def close(self) -> None:
        with self._lock:
            self._end()


def _send(sock: socket.socket, body: bytes, fds: list[int] = ()) -> None:  # type: ignore[assignment]
    """One message: its length (with the descriptors), then its body."""
    socket.send_fds(sock, [struct.pack(">Q", len(body))], list(fds))
    sock.sendall(body)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """One message and the descriptors sent with it; OSError if the other end has gone."""
    head, fds, _, _ = socket.recv_fds(sock, 8, 64)
    head += _exactly(sock, 8 - len(head)) if head else b""
    if not head:
        raise OSError("the other end of the zygote's socket has gone")
    return _exactly(sock, struct.unpack(">Q", head)[0]), fds


def _exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n > 0:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise OSError("the other end of the zygote's socket has gone mid-message")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


# Popen's own, as the tests may replace subprocess.Popen (`forked_pythons`).
_EXECUTE_CHILD = inspect.signature(subprocess.Popen._execute_child)


class ZygotePopen(subprocess.Popen):
    """`subprocess.Popen`, the child forked by the zygote rather than executed anew (`nest`:
    with a zygote of its own)."""

    zygote: Zygote
    nest: bool = False

    @classmethod
    def of(cls, zygote: Zygote, nest: bool = False) -> type[ZygotePopen]:
        """This Popen class with its children forked by `zygote`."""
        return type(cls.__name__, (cls,), {"zygote": zygote, "nest": nest})

    def _execute_child(self, *args, **kwargs) -> None:  # type: ignore[override]
        a = _EXECUTE_CHILD.bind(self, *args, **kwargs).arguments
        if not self._forkable(a):
            super()._execute_child(*args, **kwargs)
            return
        ends = (a["p2cread"], a["c2pwrite"], a["errwrite"])
        fds = [fd if fd != -1 else os.dup(std) for std, fd in enumerate(ends)]
        try:
            env = dict(os.environ if a["env"] is None else a["env"])
            cwd = os.fspath(a["cwd"] if a["cwd"] is not None else os.getcwd())
            self.pid = self.zygote.spawn(list(a["args"])[1:], cwd, env, fds, nest=self.nest)
        except OSError:  # the zygote could not: a fresh python, as asked
            self.pid = None
        finally:
            for fd, end in zip(fds, ends):
                if end == -1:
                    os.close(fd)
        if self.pid is None:
            super()._execute_child(*args, **kwargs)
            return
        self._child_created = True
        self._close_pipe_fds(a["p2cread"], a["p2cwrite"], a["c2pread"], a["c2pwrite"],
                             a["errread"], a["errwrite"])  # fmt: skip

    def _forkable(self, a: dict) -> bool:
        return True  # its callers have checked


class RoutedPopen(ZygotePopen):
    """`subprocess.Popen`: `python ...` a fork of the zygote where a fork can be that program
    (`fork_compatible`, and no option an exec honours that the fork would not), else as asked."""

    # Popen's options as a plain `Popen(args, stdin=..., stdout=..., cwd=..., env=...)` has them.
    _PLAIN: ClassVar[dict] = {
        "preexec_fn": None, "pass_fds": (), "shell": False, "start_new_session": False,
        "process_group": -1, "gid": None, "gids": None, "uid": None, "umask": -1,
    }  # fmt: skip

    def _forkable(self, a: dict) -> bool:
        args = list(a["args"]) if not isinstance(a["args"], (str, bytes)) else []
        env = dict(os.environ if a["env"] is None else a["env"])
        return (
            bool(args)
            and os.fsdecode(a["executable"] or args[0]) == sys.executable
            and all(a.get(k, v) == v for k, v in self._PLAIN.items())
            and fork_compatible(tuple(map(os.fsdecode, args[1:])), env, self.zygote.env)
        )


def route_spawns(zygote: Zygote) -> Callable[[], None]:
    """Make multiprocessing's spawned processes in this one (engine workers, checkers, grade's
    workers) forks of the zygote too; the function that undoes it. Those started by a program
    the tests run as a process are still spawned, as they are for users. A worker given a memory
    limit is spawned (the zygote's imports would count against it), and every one while REAL_SPAWN
    is in the environment."""
    from multiprocessing import util

    from conformance.core.options import MEMORY_LIMIT_VARIABLE

    real = util.spawnv_passfds

    def spawnv_passfds(path: str, args: list[str], passfds: tuple[int, ...]) -> int:
        env = dict(os.environ)
        argv = [os.fsdecode(a) for a in args]
        while argv[1:2] == ["-B"]:  # not writing bytecode: nothing a fork would do differently
            del argv[1]
        real_asked = MEMORY_LIMIT_VARIABLE in env or REAL_SPAWN in env
        if os.fsdecode(path) != sys.executable or real_asked:
            return real(path, args, passfds)
        if not fork_compatible(tuple(argv[1:]), env, zygote.env):
            return real(path, args, passfds)
        keep = tuple(sorted(map(int, passfds)))
        std = [os.dup(fd) for fd in (0, 1, 2)]
        try:
            return zygote.spawn(argv[1:], os.getcwd(), env, [*std, *keep], keep)
        except OSError:  # the zygote could not
            return real(path, args, passfds)
        finally:
            for fd in std:
                os.close(fd)

    util.spawnv_passfds = spawnv_passfds
    return lambda: setattr(util, "spawnv_passfds", real)


# --- the zygote itself --------------------------------------------------------------------------


def _serve(sock: socket.socket) -> dict:
    """Fork a child for each request; in the child, return its request."""
    while True:
        try:
            msg, fds = _receive(sock)
        except OSError:  # the test process has gone
            os._exit(0)
        try:
            request = json.loads(msg)
            pid = _fork(sock, request, fds) if os.path.isdir(request["cwd"]) else ""
        except (ValueError, KeyError, TypeError, OSError):
            pid = ""
        if pid == "child":
            return request
        for fd in fds:
            os.close(fd)
        # No pid: the test process starts it anew, and says what a fresh start says of it.
        reply = {"pid": int(pid)} if pid else {"error": "the zygote could not fork it"}
        _send(sock, json.dumps(reply).encode())


def _fork(sock: socket.socket, request: dict, fds: list[int]) -> str:
    """The program's pid once it is the test process's child ("child" in the program itself)."""
    sys.stdout.flush()
    sys.stderr.flush()
    r, w = os.pipe()
    middle = os.fork()
    if middle == 0:  # the intermediate: fork the program, say its pid, leave
        os.close(r)
        middle_pid = os.getpid()
        pid = os.fork()
        if pid == 0:
            os.close(w)
            sock.close()
            while os.getppid() == middle_pid:  # until re-parented: as if started by the test
                time.sleep(0.0002)
            nested = _nest(fds) if request.get("nest") else None
            _become(request, fds, spare=nested[:1] if nested else ())
            if nested:
                os.environ[NESTED] = f"{nested[0]} {nested[1]}"
            return "child"
        os.write(w, str(pid).encode())
        os._exit(0)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        pid = f.read().decode()
    os.waitpid(middle, 0)  # the program is re-parented by now
    return pid


def _nest(fds: list[int]) -> tuple[int, int]:
    """In the forked program: fork a zygote of its own, its child, with this one's imports and
    what PRELOAD adds; the program's end of their socket (out of the way of the descriptors it
    will be given, and not inherited by what it executes) and the zygote's pid."""
    mine, theirs = socket.socketpair()
    pid = os.fork()
    if pid == 0:  # the nested zygote: none of the program's descriptors, which must see EOF
        mine.close()
        for fd in fds:
            os.close(fd)
        _preload(PRELOAD)
        _run(_serve(theirs))
    theirs.close()
    high = fcntl.fcntl(mine.fileno(), fcntl.F_DUPFD_CLOEXEC, 1000)
    mine.close()
    return high, pid


def _become(request: dict, fds: list[int], spare: tuple[int, ...] = ()) -> None:
    """In the forked child: the descriptors, folder, environment and sys.path of a fresh
    `python ARGS` started there (and the descriptors `spare`, left as they are)."""
    targets = [0, 1, 2, *request["keep"]]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]  # out of the targets' way
    for fd in fds:
        os.close(fd)
    for fd, target in zip(high, targets):
        os.dup2(fd, target)
    keep = sorted({*targets, *spare})
    for low, top in zip(keep, [*keep[1:], 1 << 16]):
        os.closerange(low + 1, top)
    signal.pthread_sigmask(signal.SIG_SETMASK, request["mask"])  # as an exec keeps the caller's
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    args = _program(request["args"])
    if args[0] == "-m":
        first = os.getcwd()
    elif args[0] == "-c":
        first = ""
    else:
        first = os.path.dirname(os.path.abspath(args[0]))
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [first, *extra, *_BASE_PATH]
    process = sys.modules.get("multiprocessing.process")
    if process is not None:  # where spawned workers find a script given by a relative path
        process.ORIGINAL_DIR = os.path.abspath(os.getcwd())
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # a fresh process seeds it from the system, not from its parent
        numpy.random.seed()
    # The finalizers of the zygote's own imports (torch's operator libraries) are part of the
    # teardown `_run` leaves out: run in a fork, they cost 30 ms a process in copied pages.
    for info in weakref.finalize._registry.values():  # type: ignore[attr-defined]
        info.atexit = False


def _run(request: dict) -> None:
    """Run the program as `python` would, then end as `python` does, minus the interpreter's
    teardown: non-daemon threads joined, atexit's functions, stdio flushed, the exit status.
    (Tearing down a fork's inherited modules would copy most of its memory page by page: 0.6 s
    a process.)"""
    import atexit
    import runpy
    import threading
    import types

    if request["args"][0] == "-u":  # as `python -u` opens them
        for name in ("stdout", "stderr"):
            old = getattr(sys, name)
            raw = io.FileIO(old.fileno(), "w", closefd=False)
            new = io.TextIOWrapper(raw, old.encoding, old.errors, write_through=True)
            setattr(sys, name, new)
            setattr(sys, f"__{name}__", new)
    args = _program(request["args"])
    code: int = 0
    interrupted = False
    main = types.ModuleType("__main__")  # the program's, not this file's
    sys.modules["__main__"] = main
    try:
        if args[0] == "-m":
            sys.argv = ["-m", *args[2:]]  # runpy puts the module's file first
            runpy._run_module_as_main(args[1], alter_argv=True)  # type: ignore[attr-defined]
        elif args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            exec(compile(args[1], "<string>", "exec"), main.__dict__)
        else:
            sys.argv = list(args)
            code = _run_script(os.path.abspath(args[0]), main)
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except BaseException as exc:  # printed as python prints it, without this file's frames
        tb = exc.__traceback__
        mine = (os.path.abspath(__file__), "runpy")
        while tb is not None and (
            tb.tb_frame.f_code.co_filename in mine or tb.tb_frame.f_globals.get("__name__") in mine
        ):
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            code = 120  # python's status when flushing stdout fails at exit
    if interrupted:  # python ends an uncaught KeyboardInterrupt by the signal itself
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def _run_script(path: str, main: object) -> int:
    """`python PATH` (PATH absolute, as python makes `__file__`): its code in `main`."""
    import builtins
    import runpy
    from importlib.machinery import SourceFileLoader

    if not os.path.isfile(path):  # a folder or a zip with __main__.py, or nothing
        if not os.path.exists(path):
            print(f"{sys.executable}: can't open file {path!r}: [Errno 2] No such file or "
                  "directory", file=sys.stderr)  # fmt: skip
            return 2
        runpy.run_path(path, run_name="__main__")
        return 0
    with open(path, "rb") as f:
        source = f.read()
    vars(main).update(__file__=path, __cached__=None, __builtins__=builtins,
                      __loader__=SourceFileLoader("__main__", path))  # fmt: skip
    exec(compile(source, path, "exec"), vars(main))
    return 0


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _preload(names: tuple[str, ...]) -> None:
    import gc

    for name in names:
        with contextlib.suppress(ImportError):
            __import__(name)
    gc.freeze()  # the forks' collections leave the inherited objects (and their pages) alone


if __name__ == "__main__":
    _BASE_PATH = list(sys.path[1:])
    signal.pthread_sigmask(signal.SIG_SETMASK, ())  # started by whoever asked first, as it was
    _preload(_IMPORTS[sys.argv[2] if len(sys.argv) > 2 else ""])
    _sock = socket.socket(fileno=int(sys.argv[1]))
    _request = _serve(_sock)
    del _sock
    _run(_request)
