"""`--jobs N`: N checker processes, each with its own engine worker, share the cases.

The oracles (torch, finite differences, the error bounds, the neuron checks) cost far more than
most engines, so they run in parallel too: checker k takes every case whose index is k mod N,
runs the engine and the checker, and sends each case's rows back. The parent puts them in case
order, so the CSV is the same byte for byte whatever N is. A checker that stops (its engine does
not load there, the OOM killer ends it) costs its cases still to come as `error` rows, as an
engine that dies costs its case with one checker: never the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait

from conformance.checks.judge import judge_case
from conformance.core.case import Case, EngineCall
from conformance.core.options import RunOptions
from conformance.core.records import Record

__all__ = ["MIN_CASES_PER_JOB", "check_in_parallel"]

# Below this many cases a job, starting a checker (torch's import) costs more than it saves.
MIN_CASES_PER_JOB = 100
_CTX = multiprocessing.get_context("spawn")


def _checker(conn, options: RunOptions, cases: list[tuple[int, Case]]) -> None:
    """One checker process: an engine pool of one, the cases it was given, rows back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # close the engine worker on the way
    from conformance.engines import EngineLoadError
    from conformance.engines.pool import EnginePool
    from conformance.engines.schedule import Schedule, shape

    # Its own limits, timeouts and budget (from its start, a second or two after the run's).
    schedule = Schedule(options.timeout, options.budget)
    pool = EnginePool(options.engine, jobs=1, timeout=options.timeout, gate=schedule)
    try:
        try:
            pool.start(probe=False)
        except EngineLoadError as exc:  # the parent turns this share into error rows
            conn.send(("failed", f"the engine did not load in a checker process: {exc}"))
            return
        futures = pool.submit([c.spec for _, c in cases], [shape(c) for _, c in cases])
        for (index, case), fut in zip(cases, futures):
            got = schedule.refusal() if schedule.spent() else fut.result()
            conn.send((index, judge_case(case, options.engine, got, pool.call)))
        conn.send(("done", None))
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        pool.close()


def _check_here(conn, options: RunOptions, cases: list[tuple[int, Case]], call: EngineCall) -> None:
    """One share in this process, on a thread, with the run's own engine worker: rows back."""

    try:
        for index, case in cases:
            conn.send((index, judge_case(case, options.engine, call(case.spec), call)))
        conn.send(("done", None))
    except Exception as exc:
        with contextlib.suppress(OSError):  # the run was stopped and the pipe closed
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def check_in_parallel(
    options: RunOptions,
    cases: Sequence[Case],
    jobs: int,
    on_case: Callable[[int, list[Record]], None],
    call: EngineCall | None = None,
) -> None:
    """Check every case in `jobs` processes; `on_case(i, rows)` is called in case order.

    With `call`, the run's own engine worker, this process checks one share itself: an engine
    with a costly import loads in `jobs` workers rather than `jobs + 1`, one of them idle.
    """
    shares = [[(i, c) for i, c in enumerate(cases) if i % jobs == k] for k in range(jobs)]
    procs, conns = [], []
    for k, share in enumerate(shares):
        parent, child = _CTX.Pipe(duplex=False)
        conns.append(parent)
        if k == 0 and call is not None:
            args = (child, options, share, call)
            threading.Thread(target=_check_here, args=args, daemon=True).start()
            continue
        # Not a daemon: a checker starts an engine worker of its own. The finally below ends it.
        proc = _CTX.Process(target=_checker, args=(child, options, share))
        proc.start()
        child.close()
        procs.append(proc)
    done: dict[int, list[Record]] = {}
    next_index = 0
    open_conns = list(conns)
    owner = {conn: k for k, conn in enumerate(conns)}
    process_of = dict(zip(conns[1:] if call is not None else conns, procs))

    def lose_share(conn, why: str) -> None:
        # A checker that stopped (its engine did not load, the OOM killer, a bug) costs its
        # cases still to come, as error rows like those of an engine that dies: never the run.
        open_conns.remove(conn)
        for index, case in shares[owner[conn]]:
            if index >= next_index and index not in done:
                done[index] = [_lost(case, options.engine, why)]

    try:
        while open_conns:
            for conn in wait(open_conns):
                try:
                    index, rows = conn.recv()
                except (EOFError, OSError):
                    index, rows = "died", _died(process_of.get(conn))
                if index == "died":
                    lose_share(conn, rows)
                elif index == "done":
                    open_conns.remove(conn)
                elif index == "failed":
                    lose_share(conn, f"the checker of this case stopped: {rows}")
                else:
                    done[index] = rows
                while next_index in done:
                    on_case(next_index, done.pop(next_index))
                    next_index += 1
        if next_index < len(cases):  # a checker said "done" too early: a bug, not the engine's
            raise RuntimeError(f"the checker processes ended after {next_index} cases")
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()


def _died(proc) -> str:
    """Why a checker's pipe closed without a word: its exit code once it has ended."""
    code = None
    if proc is not None:
        proc.join(5)
        code = proc.exitcode
    return f"the checker process of this case died (exit code {code}) before its rows came back"


def _lost(case: Case, engine: str, why: str) -> Record:
    """The one `error` row of a case whose checker stopped before sending its rows."""
    return Record(
        suite=case.suite, case=case.case_id, engine=engine, check="run", node="", op=case.op,
        expected=None, actual=None, fd=None, abs_err=None, rel_err=None, ulp=None,
        tolerance=None, status="error", detail=why, reproduce=case.reproduce,
    )  # fmt: skip
