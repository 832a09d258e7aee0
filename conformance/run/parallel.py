"""`--jobs N`: checker processes, each with its own engine worker, share the cases.

The oracles (torch, finite differences, the error bounds, the neuron checks) cost far more than
most engines, so they run in parallel too. The checkers are sent recipes, not cases: the run's
options and ranges of case indices, from which each builds its own cases (a random case comes
from its own sub-seeds). The ranges are handed out as the checkers ask for them, smaller towards
the end, so a checker given slow cases does not keep the others waiting. Each checker runs the
engine and the checker on its cases and sends their rows back, finished and formatted as lines of
conformance.csv, a range at a time (see SEND_EVERY); the parent puts them in case order, so the
CSV is the same byte for byte whatever N is.

With `call`, the run's own engine worker, this process checks too, on a thread: an engine with a
costly import loads in N workers rather than N + 1, one of them idle. A checker process that
stops (its engine does not load there, the OOM killer ends it) costs the cases it had been given
and not yet answered as `error` rows, as an engine that dies costs its case with one checker:
never the run; the others, this process among them, check the rest.

Each checking process runs torch on one thread: N processes on N cores gain nothing from more,
and torch's idle threads spinning for work cost as much CPU as the checking itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from functools import partial
from multiprocessing.connection import wait
from typing import Protocol

from conformance.checks.judge import Finish, judge_case
from conformance.core.case import Case, EngineCall
from conformance.core.csvrows import CsvLines, csv_lines
from conformance.core.options import RunOptions
from conformance.core.records import Record, from_values, to_values
from conformance.core.result import EngineResult

__all__ = ["MIN_CASES_PER_JOB", "CaseSource", "check_in_parallel", "one_torch_thread"]

# Below this many cases a job, starting a checker (torch's import) costs more than it saves.
MIN_CASES_PER_JOB = 100
# The most cases handed to a checker at once; each has two ranges at a time, so its engine
# worker always has the next cases queued while it checks.
MAX_CHUNK = 32
# A checker sends the rows of a range once it is checked, or what it has every SEND_EVERY seconds
# of a slow one: a few messages a second rather than one a case, and never long unsent.
SEND_EVERY = 0.25
_CTX = multiprocessing.get_context("spawn")


class CaseSource(Protocol):
    """What a checker builds its cases from: a picklable recipe (see `pipeline.CaseRecipe`)."""

    def __len__(self) -> int: ...

    def build(self, start: int, stop: int) -> list[Case]: ...


class _Listed:
    """Cases given as a list (a run narrowed by `--case`): sent as they are."""

    def __init__(self, cases: Sequence[Case]) -> None:
        self.cases = list(cases)

    def __len__(self) -> int:
        return len(self.cases)

    def build(self, start: int, stop: int) -> list[Case]:
        return self.cases[start:stop]


@contextlib.contextmanager
def one_torch_thread():
    """torch on one thread inside, as it was after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _checker(conn, options: RunOptions, source: CaseSource, finish: Finish) -> None:
    """One checker process: an engine pool of one, the cases of the ranges it is sent, rows back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # close the engine worker on the way
    import torch

    from conformance.engines import EngineLoadError
    from conformance.engines.pool import EnginePool
    from conformance.engines.schedule import Schedule, shape

    torch.set_num_threads(1)
    # Its own limits, timeouts and budget (from its start, a second or two after the run's).
    schedule = Schedule(options.timeout, options.budget)
    pool = EnginePool(options.engine, timeout=options.timeout, gate=schedule)

    def results(cases: list[Case]) -> list[Callable[[], EngineResult]]:
        futures = pool.submit([c.spec for c in cases], [shape(c) for c in cases])
        # A spent budget stops the checking too: the oracles cost time of their own.
        return [lambda f=f: schedule.refusal() if schedule.spent() else f.result() for f in futures]

    try:
        try:
            pool.start(probe=False)
        except EngineLoadError as exc:  # the parent turns its ranges into error rows
            why = f"the engine did not load in a checker process: {exc}"
            conn.send(("failed", why, None))
            return
        _check_ranges(conn, options, source, finish, results, pool.call)
    except Exception as exc:
        conn.send(("failed", f"{type(exc).__name__}: {exc}", None))
    finally:
        pool.close()
        # Done: a SIGTERM from here on finds nothing to close, and raising SystemExit in the
        # interpreter's exit handlers would only print "Exception ignored in atexit callback".
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _check_here(
    conn, options: RunOptions, source: CaseSource, finish: Finish, call: EngineCall
) -> None:
    """This process's share, on a thread, with the run's own engine worker: rows back."""
    try:
        _check_ranges(conn, options, source, finish,
                      lambda cases: [partial(call, c.spec) for c in cases], call)  # fmt: skip
    except Exception as exc:
        with contextlib.suppress(OSError):  # the run was stopped and the pipe closed
            conn.send(("failed", f"{type(exc).__name__}: {exc}", None))
    finally:
        conn.close()


def _check_ranges(
    conn,
    options: RunOptions,
    source: CaseSource,
    finish: Finish,
    results: Callable[[list[Case]], list[Callable[[], EngineResult]]],
    call: EngineCall,
) -> None:
    """Check the cases of each range (start, stop) received, until None: each case's finished
    rows back (as plain tuples) with their CSV lines, and the case itself when a row is not
    `pass` (the parent explains and shrinks), in ("rows", first index, [per case]) messages."""
    queued: deque = deque()  # (start, cases, results): the engine runs ahead of the checking
    last = False
    while True:
        while not last and (not queued or conn.poll()):
            task = conn.recv()
            if task is None:
                last = True
                break
            cases = source.build(*task)
            queued.append((task[0], cases, results(cases)))
        if not queued:
            break
        start, cases, got = queued.popleft()
        batch: list = []  # the cases checked and not yet sent, from `first` on
        for index, (case, result) in enumerate(zip(cases, got), start):
            rows = finish(case, judge_case(case, options.engine, result(), call))
            keep = case if any(r.status != "pass" for r in rows) else None
            if not batch:
                first, since = index, time.monotonic()
            batch.append((to_values(rows), keep, csv_lines(rows)))
            if time.monotonic() - since > SEND_EVERY:  # a slow range: rows sent as it goes
                conn.send(("rows", first, batch))
                batch = []
        if batch:
            conn.send(("rows", first, batch))
    conn.send(("done", None, None))


class _Ranges:
    """The ranges of case indices, in order, each at most MAX_CHUNK and a quarter of a fair
    share of what is left: the last ranges are small, so the checkers finish together."""

    def __init__(self, total: int, jobs: int) -> None:
        self.next, self.total, self.jobs = 0, total, jobs

    def take(self) -> tuple[int, int] | None:
        left = self.total - self.next
        if left <= 0:
            return None
        size = max(1, min(MAX_CHUNK, left // (4 * self.jobs)))
        start, self.next = self.next, self.next + size
        return start, self.next


def check_in_parallel(
    options: RunOptions,
    cases: CaseSource | Sequence[Case],
    jobs: int,
    on_case: Callable[[int, list[Record], CsvLines], None],
    finish: Finish,
    call: EngineCall | None = None,
    on_kept: Callable[[int, Case], None] | None = None,
) -> None:
    """Check every case in `jobs` processes; `on_case(i, rows, lines)` is called in case order
    with the case's rows as `finish` leaves them and their lines of conformance.csv.

    `cases`: a recipe (`build(start, stop)` gives cases [start, stop), in any process) or a list.
    `on_kept(i, case)` comes just before `on_case` for a case with a row that is not `pass`.
    With `call`, the run's own engine worker, this process checks a share itself.
    """
    source: CaseSource = cases if hasattr(cases, "build") else _Listed(cases)  # type: ignore[arg-type]
    total = len(source)
    ranges = _Ranges(total, jobs)
    procs, conns = [], []
    for k in range(jobs):
        parent, child = _CTX.Pipe()
        conns.append(parent)
        if k == 0 and call is not None:
            args = (child, options, source, finish, call)
            threading.Thread(target=_check_here, args=args, daemon=True).start()
            continue
        # Not a daemon: a checker starts an engine worker of its own. The finally below ends it.
        proc = _CTX.Process(target=_checker, args=(child, options, source, finish))
        proc.start()
        child.close()
        procs.append(proc)
    process_of = dict(zip(conns[1:] if call is not None else conns, procs))
    given: dict = {conn: deque() for conn in conns}  # each one's ranges not yet answered in full
    told_last: set = set()  # those sent None: no more ranges
    done: dict[int, tuple[list[Record], Case | None, CsvLines]] = {}
    next_index = 0
    open_conns = list(conns)

    def give(conn) -> None:
        if conn in told_last:
            return
        task = ranges.take()
        with contextlib.suppress(OSError):  # a checker that died: its pipe tells the loop below
            conn.send(task)
        if task is None:
            told_last.add(conn)
        else:
            given[conn].append(task)

    def lose(conn, why: str) -> None:
        # A checker that stopped (its engine did not load, the OOM killer, a bug) costs the
        # cases it was given, as error rows like those of an engine that dies: never the run.
        open_conns.remove(conn)
        for start, stop in given.pop(conn):
            for index, case in zip(range(start, stop), source.build(start, stop)):
                if index >= next_index and index not in done:
                    done[index] = _lost(case, options.engine, why, finish)
        if not open_conns and ranges.next < total:  # none left to check the rest
            rest = range(ranges.next, total)
            ranges.next = total
            for index, case in zip(rest, source.build(rest.start, rest.stop)):
                done[index] = _lost(case, options.engine, why, finish)

    try:
        for conn in conns:  # two ranges each: one to check, the next for the engine meanwhile
            give(conn)
            give(conn)
        while open_conns:
            for conn in wait(open_conns):
                try:
                    kind, first, batch = conn.recv()
                except (EOFError, OSError):
                    kind, first, batch = "died", _died(process_of.get(conn)), None
                if kind == "died":
                    lose(conn, first)
                elif kind == "done":
                    open_conns.remove(conn)
                elif kind == "failed":
                    lose(conn, f"the checker of this case stopped: {first}")
                else:
                    for index, (values, keep, lines) in enumerate(batch, first):
                        done[index] = from_values(values), keep, lines
                    ranges_given = given[conn]
                    if ranges_given and index == ranges_given[0][1] - 1:  # a range answered
                        ranges_given.popleft()
                        give(conn)
                while next_index in done:
                    rows, keep, lines = done.pop(next_index)
                    if keep is not None and on_kept is not None:
                        on_kept(next_index, keep)
                    on_case(next_index, rows, lines)
                    next_index += 1
        if next_index < total:  # a checker said "done" too early: a bug, not the engine's
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


def _lost(case: Case, engine: str, why: str, finish: Finish) -> tuple:
    """The one `error` row of a case whose checker stopped before sending its rows, with the
    case and its CSV lines, as `done` holds them."""
    rows = finish(case, [Record.for_case(case, engine, status="error", detail=why)])
    return rows, case, csv_lines(rows)
