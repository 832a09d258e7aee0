"""`--jobs`: checkers build their own cases from recipes (the options and ranges of indices), and
the rows come back the same, in the same order, as from one process."""

from __future__ import annotations

import io
import random
from dataclasses import replace

import pytest

from conformance.cases.suites import SuiteCases, SuiteOptions, build_cases
from conformance.core.options import SUITE_NAMES, RunOptions
from conformance.core.records import COLUMNS
from conformance.core.safetext import safe_frame
from conformance.engines.pool import EnginePool
from conformance.report.writers import write_csv
from conformance.run.parallel import MAX_CHUNK, _Ranges, one_torch_thread
from conformance.run.pipeline import CaseRecipe, collect_cases, run

UNSUPPORTED = frozenset({("div", "vc", None), ("powc", "v", 0.5)})
BROKEN = frozenset({("exp", "v", None)})


@pytest.mark.parametrize("cases", [0, 7, 130, 301])
def test_a_slice_of_the_suites_is_the_slice_of_all_their_cases(cases: int) -> None:
    options = SuiteOptions(seed=3, cases=cases, max_nodes=12, unsupported=UNSUPPORTED,
                           broken=BROKEN)  # fmt: skip
    whole = build_cases(SUITE_NAMES, options)
    suites = SuiteCases(SUITE_NAMES, options)
    assert len(suites) == len(whole)
    assert suites.slice(0, len(whole)) == whole
    rng = random.Random(cases)
    for _ in range(40):
        start = rng.randint(0, len(whole))
        stop = rng.randint(start, len(whole) + 3)
        assert suites.slice(start, stop) == whole[start:stop], (start, stop)


@pytest.mark.parametrize("shard", [None, (1, 3), (2, 3), (3, 3)])
def test_a_recipe_builds_the_cases_collect_cases_gives(shard) -> None:
    options = RunOptions(cases=40, seed=9, max_nodes=10, shard=shard, strict=True)
    recipe = CaseRecipe.of(options, UNSUPPORTED, BROKEN)
    expected = collect_cases(options, UNSUPPORTED, BROKEN)
    assert len(recipe) == len(expected)
    assert recipe.build(0, len(recipe)) == expected  # reproduce commands included
    assert recipe.build(5, 17) == expected[5:17]
    assert recipe.build(len(recipe) - 2, len(recipe) + 10) == expected[-2:]


@pytest.mark.parametrize(("total", "jobs"), [(0, 2), (1, 2), (250, 2), (23053, 2), (999, 7)])
def test_the_ranges_cover_every_case_once_in_order_smaller_at_the_end(total, jobs) -> None:
    ranges = _Ranges(total, jobs)
    got = []
    while (task := ranges.take()) is not None:
        got.append(task)
    assert [i for start, stop in got for i in range(start, stop)] == list(range(total))
    assert all(0 < stop - start <= MAX_CHUNK for start, stop in got)
    if got:
        assert got[-1][1] - got[-1][0] == 1


def test_parallel_checkers_give_the_same_rows_as_one_process(tmp_path) -> None:
    # 136 one-op cases and 70 random graphs: over 2 * MIN_CASES_PER_JOB, so two jobs run.
    options = RunOptions(suites=("examples", "graphs"), cases=70, seed=4, out=str(tmp_path))
    seen_one, seen_two, progress = [], [], []
    one = run(replace(options, jobs=1), on_rows=lambda rows, lines: seen_one.append(lines))
    two = run(replace(options, jobs=2), on_rows=lambda rows, lines: seen_two.append(lines),
              progress=lambda i, n: progress.append((i, n)))  # fmt: skip
    assert one.cases == two.cases == 211
    assert one.frame.to_csv(index=False) == two.frame.to_csv(index=False)
    # The lines the checker processes formatted: the same, and pandas' bytes for the frame.
    assert seen_one == seen_two and all(lines.exact for lines in seen_two)
    buf = io.StringIO()
    write_csv(safe_frame(two.frame), buf)
    assert buf.getvalue() == ",".join(COLUMNS) + "\n" + "".join(t for t, _ in seen_two)
    assert progress == [(i, 211) for i in range(1, 212)]
    assert (one.exit_code, one.message) == (two.exit_code, two.message)


def test_a_pool_has_one_worker() -> None:
    with pytest.raises(ValueError, match="one worker"):
        EnginePool("refimpl", jobs=2)


def test_torch_runs_on_one_thread_inside_and_as_before_after() -> None:
    import torch

    before = torch.get_num_threads()
    with one_torch_thread():
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
