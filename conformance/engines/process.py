"""Engines in any language: a process that speaks JSON lines on stdin and stdout.

Protocol "backprop-conformance", version 1. Every message is one JSON object on one line (UTF-8,
standard JSON: nan and infinities are the strings "nan", "inf", "-inf").

1. Handshake: once started, the engine writes
       {"protocol": "backprop-conformance", "version": 1, "engine": "NAME", "ops": ["add", ...]}
   `ops` lists the vocabulary ops it supports (cases with others are skipped). An optional
   "dtype" ("float32", "float16", "bfloat16") says the precision it computes in: a run without
   `--dtype` then checks it in that precision.
2. Requests: the suite writes {"id": N, "spec": SPEC}, SPEC being a graph spec as
   `GraphSpec.to_dict()` writes it (leaves, consts, nodes, output, upstream, backwards, ...).
3. Replies: the engine answers each request, in order, with
       {"id": N, "value": V, "grads": [G0, G1, ...]}       (optional "node_values", "node_grads")
   where `grads[i]` is d(upstream · output)/d(leaf i), or with
       {"id": N, "error": "what went wrong"}
   for a case it cannot compute. Anything else on stdout is garbage: an error row, and the process
   is restarted; so is a reply line longer than `reply_limit(spec)` (64 MB and more for big
   specs). Diagnostics go to stderr.
4. End: the suite closes stdin; the engine exits.

A tensor engine (`--engine tensors:command:CMD`) says `"tensors": true` in its handshake and
gets tensor graphs with their arrays: see `conformance.engines.tensor_remote`.

One process serves many cases. If it dies, or prints garbage, the next case starts a new one; a
hang is ended by the run's per-call `--timeout`, which stops the worker and, with it, the process.
The process starts in a session of its own, and the whole group is killed when it is stopped, so
a wrapper script's children (`sh -c "python engine.py"`) do not outlive the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shlex
import signal
import subprocess
import time
from typing import Any

from conformance.core.dtypes import DTYPES
from conformance.core.result import EngineResult
from conformance.core.spec import GraphSpec
from conformance.engines.errors import EngineLoadError
from conformance.engines.function import FunctionEngine

__all__ = ["PROTOCOL", "PROTOCOL_VERSION", "ProcessEngine", "reply_limit", "stop_all"]

PROTOCOL = "backprop-conformance"
PROTOCOL_VERSION = 1
HANDSHAKE_TIMEOUT = 60.0
# Longest line read from the process, so garbage without a newline cannot fill our memory. A reply
# holds at most 2 numbers per leaf and per node (~25 characters each, written as JSON floats):
# 64 MB covers a 1,000,000-node chain's, and bigger specs get proportionally more.
REPLY_LINE_LIMIT = 64 * 2**20
HANDSHAKE_LINE_LIMIT = 2**20  # a name and the op list
_BYTES_PER_SPEC_ITEM = 64

_LIVE: set[int] = set()  # process groups of the engines this process started and has not stopped


def reply_limit(spec: GraphSpec) -> int:
    """The longest reply line accepted for `spec`, in bytes."""
    return REPLY_LINE_LIMIT + _BYTES_PER_SPEC_ITEM * (len(spec.leaves) + len(spec.nodes))


def stop_all() -> None:
    """Kill the process group of every engine still running (the worker is being stopped)."""
    for group in list(_LIVE):
        _kill_group(group)


def _kill_group(group: int) -> None:
    # The group outlives its leader while a wrapper's children live: kill it by its id.
    with contextlib.suppress(OSError, AttributeError):  # gone already; or not POSIX
        os.killpg(group, signal.SIGKILL)
    _LIVE.discard(group)
    _reap(group)


def _reap(pid: int, timeout: float = 1.0) -> None:
    """Wait until the killed leader, our child, is gone: a SIGKILL takes effect a moment after
    it is sent, and the worker that sent it may be about to exit. (Popen's own wait, later,
    finds it reaped and takes that as its end.)"""
    deadline = time.monotonic() + timeout
    while True:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except (ChildProcessError, OSError, AttributeError):  # not ours, or reaped already
            return
        if done or time.monotonic() > deadline:
            return
        time.sleep(0.002)


class EngineProtocolError(Exception):
    """The process broke the protocol (garbage, wrong id) or died; it will be restarted."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    # Linux: the engine process is killed when its worker is, so a hung engine never outlives us.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class ProcessEngine:
    """Runs specs in an external process over the JSON-lines protocol."""

    def __init__(self, command: str, name: str | None = None) -> None:
        self.command = command
        self.argv = shlex.split(command)
        if not self.argv:
            raise EngineLoadError("--engine-command is empty: give the command that starts it")
        self.name = name or f"command:{command}"
        self.proc: subprocess.Popen | None = None
        self.ops: frozenset[str] = frozenset()
        self.dtype: str | None = None  # declared in the handshake
        self._next_id = 0
        self._start()

    # ----- the process -----

    def _start(self) -> None:
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if os.name == "posix" else None,
                start_new_session=os.name == "posix",  # its group is ours to kill, see _stop
            )
        except OSError as exc:
            raise EngineLoadError(f"cannot start {self.command!r}: {exc}") from None
        if os.name == "posix":
            _LIVE.add(self.proc.pid)  # a new session's group id is its leader's pid
        try:
            hello = self._read(HANDSHAKE_TIMEOUT, HANDSHAKE_LINE_LIMIT)
        except EngineProtocolError as exc:
            self._stop()
            raise EngineLoadError(f"{self.command!r} gave no handshake: {exc}") from None
        if hello.get("protocol") != PROTOCOL or hello.get("version") != PROTOCOL_VERSION:
            self._stop()
            raise EngineLoadError(
                f"{self.command!r} speaks {hello.get('protocol')!r} version "
                f"{hello.get('version')!r}; this suite speaks {PROTOCOL!r} version "
                f"{PROTOCOL_VERSION}"
            )
        ops = hello.get("ops")
        if not isinstance(ops, list) or not all(isinstance(o, str) for o in ops):
            self._stop()
            raise EngineLoadError(f"{self.command!r}: the handshake's 'ops' must list op names")
        self.ops = frozenset(ops)
        if hello.get("engine"):
            self.name = str(hello["engine"])
        dtype = hello.get("dtype")
        if dtype is not None and dtype not in DTYPES:
            self._stop()
            raise EngineLoadError(
                f"{self.command!r}: the handshake's dtype {dtype!r:.40} is not one of "
                f"{', '.join(DTYPES)}"
            )
        self.dtype = dtype
        try:
            self._handshake_checks(hello)
        except EngineLoadError:
            self._stop()
            raise

    def _handshake_checks(self, hello: dict) -> None:
        """More of the handshake, for a kind of engine that says more in it (tensors)."""

    def _stop(self) -> None:
        if self.proc is not None:
            if os.name == "posix":
                _kill_group(self.proc.pid)
            try:
                self.proc.kill()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                pass
            for pipe in (self.proc.stdin, self.proc.stdout):
                with contextlib.suppress(OSError):  # a broken pipe's buffer cannot be flushed
                    if pipe is not None:
                        pipe.close()
            self.proc = None

    def _read(self, timeout: float | None, limit: int) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        if timeout is not None:
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
            if not ready:
                raise EngineProtocolError(f"nothing within {timeout:g} s")
        line = self.proc.stdout.readline(limit + 1)
        if len(line) > limit:
            raise EngineProtocolError(
                f"garbage on stdout: a line longer than the limit, {limit:,} bytes"
            )
        if not line:
            try:  # stdout closes a moment before the process can be reaped
                code = self.proc.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                raise EngineProtocolError("its process closed stdout without exiting") from None
            if code < 0:
                raise EngineProtocolError(f"its process was killed by signal {-code}")
            raise EngineProtocolError(f"its process exited with code {code}")
        try:
            msg = json.loads(line, parse_constant=lambda c: c)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise EngineProtocolError(f"garbage on stdout: {line[:80]!r}") from None
        if not isinstance(msg, dict):
            raise EngineProtocolError(f"garbage on stdout: {line[:80]!r}")
        return msg

    # ----- the engine contract -----

    def unsupported(self, op_name: str, pattern: str, param: float | None) -> str | None:
        """Why the process cannot run `op_name` (not in its handshake's ops), or None."""
        return None if op_name in self.ops else f"{op_name} is not in the engine's ops"

    def run(self, spec: GraphSpec) -> EngineResult:
        """Send the spec, read the reply; a broken process is restarted for the next case."""
        for node in spec.nodes:
            why = self.unsupported(node.op, "", node.param)
            if why:
                return EngineResult(skip=why)
        reply = self._exchange(spec.to_dict(), reply_limit(spec))
        if "error" in reply:
            raise RuntimeError(f"the engine answered with an error: {reply['error']}")
        return _read_answer(reply, spec)

    def _exchange(self, spec: dict, limit: int) -> dict:
        """Send {"id", "spec"} and read the reply to it (a process that died is started again
        first; one that breaks the protocol is stopped: EngineProtocolError)."""
        if self.proc is None or self.proc.poll() is not None:
            self._stop()
            self._start()
        self._next_id += 1
        request = {"id": self._next_id, "spec": spec}
        try:
            assert self.proc is not None and self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            reply = self._read(None, limit)
        except (BrokenPipeError, OSError) as exc:
            self._stop()
            raise EngineProtocolError(f"the engine process is gone: {exc}") from None
        except EngineProtocolError:
            self._stop()
            raise
        if reply.get("id") != self._next_id:
            self._stop()
            raise EngineProtocolError(f"reply id {reply.get('id')!r}, expected {self._next_id}")
        return reply

    def close(self) -> None:
        """Close stdin, let the engine exit."""
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(2)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self._stop()


def _read_answer(reply: dict[str, Any], spec: GraphSpec) -> EngineResult:
    # The same shapes as a function engine's answer: reuse its checks.
    return FunctionEngine(lambda _: reply, "reply").run(spec)
