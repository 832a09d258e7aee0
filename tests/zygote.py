"""A process that has imported torch, pandas and the suite once, and forks a fresh `python ...`
for each end-to-end test that asks: the program runs in a real process of its own (its own pid,
exit code, signals, file descriptors, environment, working folder and sys.path), without paying
the 2 s of imports each time. Linux only; elsewhere, or when asked for what a fork cannot give
(another interpreter, a PYTHON* or locale variable read at start-up), tests start the real thing.

How a fork becomes the test's own child: the test process is made a child subreaper; the zygote
forks an intermediate, which forks the program and exits; the program is then re-parented to the
test process, which waits for it like any `subprocess.Popen` child (`ZygotePopen`).

Run as a script, this file is the zygote: `python tests/zygote.py FD`, FD its end of a socket.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import inspect
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What every program the tests start imports anyway (the CLI's run, its checkers and reports).
PRELOAD = (
    "numpy", "torch", "pandas", "jinja2", "conformance.cli.main", "conformance.run.pipeline",
    "conformance.run.parallel", "conformance.report.writers", "conformance.report.html.page",
    "conformance.failures.replay", "conformance.checks.judge",
)  # fmt: skip
# Variables a fresh interpreter reads as it starts, which a fork cannot change afterwards.
_AT_START = ("PYTHON", "LC_", "LANG", "OPENBLAS", "OMP_", "MKL_")
_PR_SET_CHILD_SUBREAPER = 36
# Set in the environment, multiprocessing's processes are spawned anew (`real_spawns` fixture).
REAL_SPAWN = "CONFORMANCE_TEST_REAL_SPAWN"


def fork_compatible(args: tuple[str, ...], env: dict[str, str], base: dict | None = None) -> bool:
    """Whether `python ARGS` with `env` can be a fork of a zygote started with `base` (this
    process's environment by default): `-m MODULE`, `-c CODE` or a script, and no difference in
    what only a starting interpreter reads."""
    base = dict(os.environ) if base is None else base
    flag = args[:1] in (("-m",), ("-c",))
    if not args or (flag and len(args) < 2) or (not flag and args[0].startswith("-")):
        return False
    changed = {k for k in set(env) | set(base) if env.get(k) != base.get(k)}
    return not any(k.startswith(_AT_START) for k in changed - {"PYTHONPATH"})


class Zygote:
    """The test process's end: starts the zygote on first use, asks it for forks."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen | None = None
        self.usable = sys.platform == "linux" and _become_subreaper()
        # The environment it starts with (whenever it starts): forks compare theirs with it.
        self.env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}

    def _start(self) -> socket.socket:
        mine, theirs = socket.socketpair()
        self._proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), str(theirs.fileno())],
            pass_fds=[theirs.fileno()], cwd=ROOT, env=self.env, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        theirs.close()
        return mine

    def spawn(
        self, args: list[str], cwd: str, env: dict[str, str], fds: list[int], keep: tuple = ()
    ) -> int:
        """Fork `python ARGS` in `cwd` with `env`, stdin/stdout/stderr `fds[:3]`, and the
        descriptors `keep` (`fds[3:]`) under the same numbers; its pid, a child of this process."""
        with self._lock:
            if self._sock is None:
                self._sock = self._start()
            mask = sorted(int(n) for n in signal.pthread_sigmask(signal.SIG_BLOCK, ()))
            request = {"args": args, "cwd": cwd, "env": env, "keep": list(keep), "mask": mask}
            socket.send_fds(self._sock, [json.dumps(request).encode() + b"\n"], list(fds))
            reply = b""
            while not reply.endswith(b"\n"):
                chunk = self._sock.recv(4096)
                if not chunk:
                    raise OSError("the zygote process ended")
                reply += chunk
        answer = json.loads(reply)
        if "error" in answer:
            raise OSError(answer["error"])
        return int(answer["pid"])

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()


def _become_subreaper() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


class ZygotePopen(subprocess.Popen):
    """`subprocess.Popen`, the child forked by the zygote rather than executed anew."""

    zygote: Zygote

    def _execute_child(self, *args, **kwargs) -> None:  # type: ignore[override]
        a = inspect.signature(subprocess.Popen._execute_child).bind(self, *args, **kwargs).arguments
        ends = (a["p2cread"], a["c2pwrite"], a["errwrite"])
        fds = [fd if fd != -1 else os.dup(std) for std, fd in enumerate(ends)]
        try:
            env = dict(os.environ if a["env"] is None else a["env"])
            cwd = os.fspath(a["cwd"] if a["cwd"] is not None else os.getcwd())
            self.pid = self.zygote.spawn(list(a["args"])[1:], cwd, env, fds)
            self._child_created = True
        finally:
            for fd, end in zip(fds, ends):
                if end == -1:
                    os.close(fd)
            self._close_pipe_fds(a["p2cread"], a["p2cwrite"], a["c2pread"], a["c2pwrite"],
                                 a["errread"], a["errwrite"])  # fmt: skip


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
        finally:
            for fd in std:
                os.close(fd)

    util.spawnv_passfds = spawnv_passfds
    return lambda: setattr(util, "spawnv_passfds", real)


# --- the zygote itself --------------------------------------------------------------------------


def _serve(sock: socket.socket) -> dict:
    """Fork a child for each request; in the child, return its request."""
    while True:
        msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 64)
        if not msg:
            os._exit(0)
        request = json.loads(msg)
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
                _become(request, fds)
                return request
            os.write(w, str(pid).encode())
            os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            pid = f.read().decode()
        os.waitpid(middle, 0)  # the program is re-parented by now
        for fd in fds:
            os.close(fd)
        reply = {"pid": int(pid)} if pid else {"error": "the zygote could not fork"}
        sock.sendall(json.dumps(reply).encode() + b"\n")


def _become(request: dict, fds: list[int]) -> None:
    """In the forked child: the descriptors, folder, environment and sys.path of a fresh
    `python ARGS` started there."""
    targets = [0, 1, 2, *request["keep"]]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 1000) for fd in fds]  # out of the targets' way
    for fd in fds:
        os.close(fd)
    for fd, target in zip(high, targets):
        os.dup2(fd, target)
    keep = sorted(set(targets))
    for low, top in zip(keep, [*keep[1:], 1 << 16]):
        os.closerange(low + 1, top)
    signal.pthread_sigmask(signal.SIG_SETMASK, request["mask"])  # as an exec keeps the caller's
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    args = request["args"]
    if args[0] == "-m":
        first = os.getcwd()
    elif args[0] == "-c":
        first = ""
    else:
        first = os.path.dirname(os.path.abspath(args[0]))
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [first, *extra, *_BASE_PATH]


def _run(request: dict) -> None:
    """Run the program as `python` would, then end as `python` does, minus the interpreter's
    teardown: atexit's functions, stdio flushed, the exit status. (Tearing down a fork's
    inherited modules would copy most of its memory page by page: 0.6 s a process.)"""
    import atexit
    import runpy
    import traceback
    import types

    args = request["args"]
    code: int = 0
    interrupted = False
    try:
        if args[0] == "-m":
            sys.argv = [args[1], *args[2:]]  # runpy puts the module's file first
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        elif args[0] == "-c":
            sys.argv = ["-c", *args[2:]]
            main = types.ModuleType("__main__")
            sys.modules["__main__"] = main
            exec(compile(args[1], "<string>", "exec"), main.__dict__)
        else:
            sys.argv = list(args)
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as exc:
        code = _exit_status(exc.code)
    except BaseException as exc:  # printed as python prints it, without this file's frames
        tb = exc.__traceback__
        mine = (os.path.abspath(__file__), "runpy")
        while tb is not None and (
            tb.tb_frame.f_code.co_filename in mine or tb.tb_frame.f_globals.get("__name__") in mine
        ):
            tb = tb.tb_next
        traceback.print_exception(type(exc), exc, tb)
        code, interrupted = 1, isinstance(exc, KeyboardInterrupt)
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


def _exit_status(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


if __name__ == "__main__":
    import gc

    _BASE_PATH = list(sys.path[1:])
    signal.pthread_sigmask(signal.SIG_SETMASK, ())  # started by whoever asked first, as it was
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            __import__(name)
    gc.freeze()  # the forks' collections leave the inherited objects (and their pages) alone
    _sock = socket.socket(fileno=int(sys.argv[1]))
    _request = _serve(_sock)
    del _sock
    _run(_request)
