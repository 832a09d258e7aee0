"""Training trajectories: the engine and torch.optim.SGD from the same start, step by step.

Correct engines stay inside the rounding envelope for every step; an optimizer that climbs, a
wrong derivative, or a learning rate off by one part in a billion leaves it.
"""

from __future__ import annotations

import functools
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from conformance.cases.neurons import model_from_dict
from conformance.cases.training import training
from conformance.checks.training import ENVELOPE, check_training, envelope, training_table
from conformance.core.records import to_frame
from conformance.engines import load_engine
from conformance.oracles.nn import torch_training
from conformance.run.pipeline import run_in_process
from tests.engines import buggy_nn
from tests.engines.alt import Value as AltValue
from tests.helpers import scalar_engine, sized

ROOT = Path(__file__).resolve().parents[2]
CORRECT = {
    "refimpl": lambda: load_engine("refimpl"),
    "torch": lambda: load_engine("torch"),
    "alt": lambda: scalar_engine(AltValue, "alt"),
    "alt+sgd": lambda: scalar_engine(buggy_nn.SgdCorrect, "alt+sgd"),
}


class SgdLrSlightlyOff(buggy_nn.Value):
    """An optimizer whose learning rate is off by one part in a billion."""

    @staticmethod
    def sgd_step(params, lr):
        for p in params:
            p.data -= lr * (1 + 1e-9) * p.grad


def train(engine, seed: int = 0, steps: int = 50) -> list:
    """Every row of the training suite for an engine object, in process."""
    call = functools.partial(run_in_process, engine)
    rows = []
    for case in training(seed, steps):
        rows += check_training(case, getattr(engine, "name", "engine"), call(case.spec), call)
    return rows


def test_training_cases_are_deterministic_and_small() -> None:
    a, b = training(3, 10), training(3, 10)
    assert [c.case_id for c in a] == [c.case_id for c in b]
    assert [c.payload for c in a] == [c.payload for c in b]
    assert [c.case_id for c in training(4, 10)] != [c.case_id for c in a]
    assert a[0].op.startswith("neuron:") and all(c.op.startswith("mlp:") for c in a[1:])
    assert all(len(c.spec.leaves) < 60 for c in a)


def test_each_step_gives_a_loss_and_a_trajectory_row() -> None:
    rows = train(load_engine("refimpl"), steps=5)
    per_case = Counter((r.case, r.check) for r in rows)
    assert set(per_case.values()) == {6}  # steps 0..5
    assert {r.node for r in rows} == {f"step {k}" for k in range(6)}
    one = next(r for r in rows if r.check == "trajectory" and r.node == "step 5")
    assert one.detail.startswith("after 5 steps of lr = ")
    assert "the largest parameter difference from torch.optim.SGD is" in one.detail
    assert "refimpl's SGD" in one.detail


@pytest.mark.parametrize("engine", sorted(CORRECT))
def test_correct_engines_stay_inside_the_envelope(engine: str) -> None:
    rows = train(CORRECT[engine](), steps=sized(25, 50))
    bad = [r.detail for r in rows if r.status != "pass"]
    assert not bad, bad[:3]
    worst = max(r.abs_err / r.tolerance for r in rows if r.check == "trajectory")
    assert worst < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["refimpl", "alt"])
def test_correct_engines_stay_inside_the_envelope_for_300_steps(engine: str) -> None:
    eng = CORRECT[engine]()
    for seed in range(1, 11):
        bad = [r.detail for r in train(eng, seed, steps=300) if r.status != "pass"]
        assert not bad, (seed, bad[:3])


@pytest.mark.parametrize(
    "bug", ["SgdAddsGradient", "SquareForgetsTwo", "SigmoidDerivativeIsOutput", "SgdLrSlightlyOff"]
)
def test_bugs_leave_the_envelope_within_a_few_steps(bug: str) -> None:
    cls = SgdLrSlightlyOff if bug == "SgdLrSlightlyOff" else getattr(buggy_nn, bug)
    # 5 steps, not the default 50: a step's rows (and its envelope) do not depend on the steps
    # after it, and the assert reads steps 0-3 only.
    rows = train(scalar_engine(cls, bug), steps=5)
    failing = [r for r in rows if r.check == "trajectory" and r.status == "fail"]
    assert failing
    first = min(int(r.node.removeprefix("step ")) for r in failing)
    assert first <= 3, first


def test_the_envelope_is_measured_from_nudged_torch_runs() -> None:
    case = training(0, 20)[1]
    model = model_from_dict(json.loads(case.payload)["model"])
    reference = torch_training(model, case.spec.step.lr, 20)
    params, losses = envelope(model, case.spec.step.lr, 20, reference, seed=1)
    assert len(params) == len(losses) == 21
    assert all(p > 0 for p in params)  # every run is nudged away from torch's own
    assert max(params) < 1e-12  # ... by rounding, and no more
    again = envelope(model, case.spec.step.lr, 20, reference, seed=1)
    assert again == (params, losses)
    assert ENVELOPE >= 2


def test_training_table_holds_both_loss_curves() -> None:
    frame = to_frame(train(load_engine("refimpl"), steps=4))
    table = training_table(frame)
    assert list(table.columns) == [
        "case", "op", "step", "engine_loss", "torch_loss", "max_param_diff", "envelope", "status",
    ]  # fmt: skip
    assert len(table) == 4 * 5
    assert list(table["step"][:5]) == [0, 1, 2, 3, 4]
    assert (table["status"] == "pass").all()
    assert (table["engine_loss"] - table["torch_loss"]).abs().max() < 1e-12
    assert training_table(frame[frame["suite"] != "training"]).empty


def test_the_cli_trains_for_steps_and_writes_the_curves(conformance, tmp_path: Path) -> None:
    proc = conformance(
        "run", "--suite", "examples,training", "--steps", "3", "--out", str(tmp_path)
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    curves = pd.read_csv(tmp_path / "training.csv")
    assert len(curves) == 4 * 4 and set(curves["step"]) == {0, 1, 2, 3}
    page = (tmp_path / "conformance.html").read_text()
    assert page.index("The lecture's worked example") < page.index("By suite and op")
    assert "Training: the engine's loss curve" in page and "<polyline" in page
    frame = pd.read_csv(tmp_path / "conformance.csv")
    assert "--steps 3" in frame[frame["suite"] == "training"]["reproduce"].iloc[0]


def test_the_cli_rejects_zero_steps(conformance, tmp_path: Path) -> None:
    proc = conformance("run", "--steps", "0", "--out", str(tmp_path))
    assert proc.returncode == 2 and "at least 1" in proc.stderr


class SgdExplodes(buggy_nn.Value):
    """An optimizer that sends every weight to infinity."""

    @staticmethod
    def sgd_step(params, lr):
        for p in params:
            p.data = float("inf")


def test_a_diverging_engine_is_a_failing_row_not_a_crash() -> None:
    rows = train(scalar_engine(SgdExplodes), steps=5)
    last = [r for r in rows if "no longer finite" in r.detail]
    assert len(last) == 4 and {r.status for r in last} == {"fail"}
    assert {r.node for r in last} == {"step 1"}
