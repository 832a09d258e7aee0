"""Engines under test run in worker processes: a crash, a hang or a corrupted interpreter costs
one case (an `error` row), never the run.

The worker loads the engine once and serves specs over a pipe, one at a time, in the order they
were submitted (a checker's follow-up call first). A call that takes longer than `timeout`
seconds, or a worker that dies, gives an error result; the worker is replaced and the run goes
on. With a `gate` (a run's `schedule.Schedule`), each spec gets its own limit, and the gate may
refuse to run it at all. Parallel checking is `run.parallel`'s: a pool per checker process.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from conformance.cases.generate import op_variants
from conformance.core.options import DEFAULT_TIMEOUT, worker_memory_limit_mb
from conformance.core.spec import GraphSpec
from conformance.core.tensor_graph import (
    TENSOR_PREFIX,
    TensorGraph,
    is_tensor_engine,
    tensor_variants,
)
from conformance.core.tensors import LayerSpec, TensorResult, is_layer_engine
from conformance.engines import (
    COMMAND_PREFIX,
    EngineLoadError,
    EngineResult,
    declared_dtype,
    load_engine,
)

if TYPE_CHECKING:
    from conformance.engines.schedule import Schedule

__all__ = ["EnginePool"]

_CTX = multiprocessing.get_context("spawn")
PROBE_TIMEOUT = 10.0  # per op variant; a scalar class's probe stops itself after 2 s
CLOSE_WAIT = 10.0  # seconds `close` waits for the serving thread (a replacement loading)


def _serve(conn, engine_name: str, parent: int | None = None) -> None:  # in the worker process
    # A process in any language (a tensor one too): its process group is ours to stop, and its
    # memory is not ours to size.
    command = engine_name.startswith((COMMAND_PREFIX, TENSOR_PREFIX + COMMAND_PREFIX))
    if command:
        # This worker only waits on pipes, so a handler runs: it takes the engine's whole
        # process group with it (a wrapper script's children are out of reach of their own
        # death signal). Both stopping it (`_Worker.kill`) and its parent's death send SIGTERM.
        signal.signal(signal.SIGTERM, _stop_engines)
    _die_with(parent, signal.SIGTERM if command else signal.SIGKILL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    # An engine's prints, and its writes to file descriptor 1 (C code, os.write), must not garble
    # ours: the worker shares the parent's stdout, where `check --format json` writes.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    if not command:  # a protocol engine's process is not ours to size (a JVM reserves GBs)
        _limit_memory(worker_memory_limit_mb())
    try:
        engine = load_engine(engine_name)
    except EngineLoadError as exc:
        conn.send(("load-error", str(exc)))
        return
    except BaseException as exc:
        conn.send(("load-error", f"loading engine {engine_name!r} raised {_describe(exc)}"))
        return
    conn.send(("ready", engine.name, declared_dtype(engine)))
    try:
        _answer(conn, engine)
    finally:
        if command:  # a wrapper script's children too: the engine's whole process group
            from conformance.engines.process import stop_all

            stop_all()


def _answer(conn, engine) -> None:  # in the worker process
    """Answer the parent's probes and specs until it says stop (None) or goes away."""
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        index, spec_dict = msg
        if index == "probe":  # can the engine build this op variant? (parent-driven, see start)
            try:
                why = _probe_one(engine, spec_dict)
            except BaseException as exc:
                why = (None, f"probing it raised {_describe(exc)}")
            conn.send(("probe", why))
            continue
        try:
            result = engine.run(_spec_from_dict(spec_dict))
        except BaseException as exc:
            result = EngineResult(error=f"raised {_describe(exc)}")
        try:
            conn.send((index, result.to_dict()))
        except (pickle.PicklingError, TypeError, AttributeError) as exc:  # a function, a lock...
            what = f"returned something that cannot be sent back as numbers ({_describe(exc)})"
            conn.send((index, EngineResult(error=what).to_dict()))


def _spec_from_dict(d: dict) -> GraphSpec | LayerSpec | TensorGraph:
    if "tensor_graph" in d:
        return TensorGraph.from_dict(d)
    return LayerSpec.from_dict(d) if "layer" in d else GraphSpec.from_dict(d)


def _result_from_dict(d: dict) -> EngineResult | TensorResult:
    return TensorResult.from_dict(d) if d.get("tensor") else EngineResult.from_dict(d)


def _stop_engines(signum: int, frame: object) -> None:
    """SIGTERM in a protocol engine's worker: kill the engine's process group, then exit."""
    from conformance.engines.process import stop_all

    stop_all()
    os._exit(128 + signum)


def _die_with(parent: int | None, sig: int) -> None:
    """Linux: the worker gets `sig` when the process that started it dies, even by SIGKILL."""
    # Strictly when the thread that started it ends: the caller's (start) or the pool's queue
    # threads (a replaced worker), which all live as long as the pool.
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # it died before the prctl took effect
        os._exit(1)


def _limit_memory(megabytes: int) -> None:
    """Cap the worker's address space, so a leak is a MemoryError, not a machine out of memory."""
    try:
        import resource
    except ImportError:  # not POSIX
        return
    if megabytes <= 0:
        return
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = megabytes * 2**20
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _probe_one(engine: Any, variant: tuple) -> tuple[str | None, str | None]:
    """(why the engine lacks the variant, what breaks when it builds it); None where fine."""
    unsupported = getattr(engine, "unsupported", None)
    broken = getattr(engine, "broken", None)
    return (
        None if unsupported is None else unsupported(*variant),
        None if broken is None else broken(*variant),
    )


def probe_capabilities(engine: Any) -> tuple[dict[tuple, str], dict[tuple, str]]:
    """The op variants the engine lacks, and those it has but that break, each with why:
    ({(op, pattern, param): reason}, {(op, pattern, param): what broke})."""
    missing, broken = {}, {}
    tensors = getattr(engine, "name", "").startswith("tensors:")
    for variant in tensor_variants() if tensors else op_variants():
        why, broke = _probe_one(engine, variant)
        if why:
            missing[variant] = why
        if broke:
            broken[variant] = broke
    return missing, broken


def _describe(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _ended(code: int | None) -> str:
    """How a worker process ended, from its exit code: `exited with code 3`, `was killed by
    SIGKILL`; a code still None means it would not stop even when killed."""
    if code is None:
        return "did not stop when killed"
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, engine_name: str) -> None:
        self.engine_name = engine_name
        parent, child = _CTX.Pipe()
        self.conn = parent
        self.process = _CTX.Process(
            target=_serve, args=(child, engine_name, os.getpid()), daemon=True
        )
        self.process.start()
        child.close()
        self.dtype: str | None = None  # the precision the engine declares, once loaded

    def handshake(self, timeout: float) -> str:
        """The engine's name once loaded; EngineLoadError when it cannot load."""
        if not self.conn.poll(timeout):
            self.kill()
            raise EngineLoadError(f"engine {self.engine_name!r} did not load in {timeout:g} s")
        try:
            kind, text, *rest = self.conn.recv()
            dtype = rest[0] if rest else None
        except (EOFError, OSError):
            code = self.kill()
            raise EngineLoadError(
                f"the worker for engine {self.engine_name!r} died while loading: it {_ended(code)}"
            ) from None
        if kind != "ready":
            self.kill()
            raise EngineLoadError(text)
        self.dtype = dtype
        return text

    def probe(self, variant: tuple, timeout: float) -> tuple[bool, tuple | None]:
        """(answered, (why unsupported, what broke)); not answered when the worker hung or died
        probing."""
        try:
            self.conn.send(("probe", variant))
            if not self.conn.poll(timeout):
                return False, None
            kind, why = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return False, None
        return kind == "probe", why

    def call(self, index: int, spec: GraphSpec, timeout: float) -> EngineResult | None:
        """The engine's result, or None when the worker hung or died (it is then dead)."""
        try:
            self.conn.send((index, spec.to_dict()))
            if not self.conn.poll(timeout):
                return None
            got, data = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            return None
        return _result_from_dict(data) if got == index else None

    def kill(self) -> int | None:
        """Stop the process now; its exit code."""
        with contextlib.suppress(OSError):
            self.conn.close()
        if self.process.is_alive():
            # SIGTERM first: a protocol engine's worker then kills the engine's process group.
            self.process.terminate()
            self.process.join(1)
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        return self.process.exitcode

    def close(self) -> None:
        """Ask the worker to finish, then make sure it has."""
        with contextlib.suppress(OSError, BrokenPipeError):
            self.conn.send(None)
        self.process.join(1)
        self.kill()


class EnginePool:
    """One worker for one engine, each call limited to `timeout` seconds, or to the limit the
    `gate` gives each spec."""

    def __init__(
        self,
        engine: str,
        *,
        jobs: int = 1,
        timeout: float = DEFAULT_TIMEOUT,
        gate: Schedule | None = None,
    ) -> None:
        if jobs != 1:  # the parameter stays for its callers; several checkers are `parallel`'s
            raise ValueError(f"an EnginePool has one worker, not {jobs}")
        self.engine = engine
        self.timeout = float(timeout)
        self.gate = gate
        self.name = engine
        self.dtype: str | None = None  # declared by the engine (see engines.declared_dtype)
        self.unsupported: dict[tuple, str] = {}
        self.broken: dict[tuple, str] = {}  # variants that exist but raise or give non-numbers
        # (priority, sequence, index, spec, shape, future): a checker's follow-up call
        # (priority 0) overtakes the cases still queued (priority 1).
        self._tasks: queue.PriorityQueue = queue.PriorityQueue()
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._worker: _Worker | None = None
        self._closed = threading.Event()

    def start(self, load_timeout: float = 120.0, probe: bool = True) -> str:
        """Load the engine in the worker; EngineLoadError (one line) when it cannot load.
        With `probe`, first ask which op variants it lacks (`self.unsupported`)."""
        worker = _Worker(self.engine)
        self.name = worker.handshake(load_timeout)
        self.dtype = worker.dtype
        if probe and not is_layer_engine(self.engine):  # layers: a missing one is a skip row
            worker = self._probe_all(worker, load_timeout)
        self._worker = worker
        self._thread = threading.Thread(target=self._serve_queue, daemon=True)
        self._thread.start()
        return self.name

    def _probe_all(self, worker: _Worker, load_timeout: float) -> _Worker:
        """Ask the worker which op variants the engine lacks, one at a time. A probe that kills
        or hangs the worker counts as supported for a scalar engine (its cases will show what
        happens) and as broken for a tensor engine (one probe covers one op form there, and
        graphs then avoid it); a fresh worker takes over."""
        self.unsupported, self.broken = {}, {}
        variants = tensor_variants() if is_tensor_engine(self.engine) else op_variants()
        for variant in variants:
            answered, found = worker.probe(variant, PROBE_TIMEOUT)
            if not answered:
                worker.kill()
                worker = _Worker(self.engine)
                worker.handshake(load_timeout)
                if is_tensor_engine(self.engine):  # graphs avoid it; its own cases show it
                    self.broken[variant] = (
                        f"building it took over {PROBE_TIMEOUT:g} s, or ended the engine's process"
                    )
            elif found:
                why, broke = found
                if why:
                    self.unsupported[variant] = why
                if broke:
                    self.broken[variant] = broke
        return worker

    def submit(
        self, specs: Sequence[GraphSpec], shapes: Sequence[str] | None = None
    ) -> list[Future]:
        """Queue every spec; each future resolves to its EngineResult, never to an exception.
        `shapes` name each spec's kind of case for the gate ("suite/op")."""
        futures = []
        for index, spec in enumerate(specs):
            fut: Future = Future()
            shape = shapes[index] if shapes is not None else ""
            self._tasks.put((1, next(self._sequence), index, spec, shape, fut))
            futures.append(fut)
        return futures

    def call(self, spec: GraphSpec) -> EngineResult:
        """Run one more spec ahead of the queued cases and wait for its result."""
        fut: Future = Future()
        self._tasks.put((0, next(self._sequence), -1, spec, "", fut))
        return fut.result()

    def _serve_queue(self) -> None:
        while not self._closed.is_set():
            try:
                _, _, index, spec, shape, fut = self._tasks.get(timeout=0.2)
            except queue.Empty:
                continue
            if fut is None:  # `close`'s wake-up call
                return
            try:
                if self._serve_one(index, spec, shape, fut):
                    return
            except BaseException as exc:  # a dead thread would leave the caller waiting forever
                if not fut.done():
                    fut.set_result(EngineResult(error=f"the suite failed: {_describe(exc)}"))
                with contextlib.suppress(BaseException):  # the worker may be mid-call: start anew
                    self._worker.kill()  # type: ignore[union-attr]
                    self._worker = self._replace()

    def _serve_one(self, index: int, spec: GraphSpec, shape: str, fut: Future) -> bool:
        """Run one task and resolve its future; True when the pool closed meanwhile."""
        refused = self.gate.admit(spec, shape) if self.gate is not None else None
        if refused:
            fut.set_result(EngineResult(error=refused))
            return False
        limit = self.gate.limit(spec) if self.gate is not None else self.timeout
        worker = self._worker
        assert worker is not None
        started = time.monotonic()
        result = worker.call(index, spec, limit)
        if result is None:
            # A call that ended well before its limit did not time out: the pipe closed because
            # the process died, though it may not be reaped yet (is_alive() still True). The
            # margin keeps a poll that wakes a hair early from counting as a death.
            early = time.monotonic() - started < 0.9 * limit
            if early:
                worker.process.join(5)
            alive = worker.process.is_alive()
            code = worker.kill()
            if self._closed.is_set():
                fut.set_result(EngineResult(error="the run was interrupted"))
                return True
            # The row says "the engine " before this text.
            if early and alive:
                what = "process stopped answering before its time limit (it was stopped)"
            elif early or not alive:
                what = f"process died: it {_ended(code)}"
            elif self.gate is not None:
                what = self.gate.timed_out(spec, shape, limit)
            else:
                what = f"timed out after {limit:g} s (the worker was stopped)"
            fut.set_result(EngineResult(error=what))
            self._worker = self._replace()
        else:
            fut.set_result(result)
        return False

    def _replace(self) -> _Worker:
        w = _Worker(self.engine)
        with contextlib.suppress(EngineLoadError):  # then every call on it is an error row
            w.handshake(120.0)
        return w

    def close(self) -> None:
        """Stop the workers; queued cases that never ran resolve as errors."""
        self._closed.set()
        while True:
            try:
                *_, fut = self._tasks.get_nowait()
            except queue.Empty:
                break
            if fut is not None and not fut.done():
                fut.set_result(EngineResult(error="the run was interrupted"))
        # Wake the serving thread now rather than at its next poll (a fifth of a second a run).
        self._tasks.put((-1, next(self._sequence), -1, None, "", None))
        worker = self._worker
        if worker is not None:
            worker.close()
        # The serving thread may be starting a replacement for a worker that timed out (it
        # resolves the case first): wait for it, then stop the replacement too, so no engine
        # outlives the pool.
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(CLOSE_WAIT)
        if self._worker is not None and self._worker is not worker:
            self._worker.close()

    def __enter__(self) -> EnginePool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
