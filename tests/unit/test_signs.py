"""The sign-and-update rows: the lecture's three sentences about gradients, as checks.

An optimizer that adds the gradient is caught by the sign rule; one that is a hair off is caught
by the 1-ULP comparison with torch.optim.SGD; zero gradients and kinks get verdicts of their
own; the Armijo and ordering checks fail when the engine's gradient misleads.
"""

from __future__ import annotations

import dataclasses
import functools

import pandas as pd
import pytest

from conformance.cases.neurons import (
    NeuronSpec,
    neuron_case,
    neurons,
    seed_neuron,
    seed_neuron_case,
)
from conformance.checks.neurons import check_neuron
from conformance.checks.signs import (
    DELTA,
    StepContext,
    _armijo,
    _Nudge,
    _order,
    sign_and_update_rows,
)
from conformance.core.records import Record
from conformance.engines import load_engine
from conformance.oracles.nn import torch_net
from conformance.run.pipeline import run_in_process
from tests.engines import buggy_nn
from tests.helpers import scalar_engine


def judge(engine, case) -> list[Record]:
    call = functools.partial(run_in_process, engine)
    return check_neuron(case, engine.name, call(case.spec), call)


def _rows(rows: list[Record], check: str) -> dict[str, Record]:
    return {r.node: r for r in rows if r.check == check}


class SgdLrSlightlyOff(buggy_nn.Value):
    """An optimizer whose learning rate is off by one part in a billion."""

    @staticmethod
    def sgd_step(params, lr):
        for p in params:
            p.data -= lr * (1 + 1e-9) * p.grad


# ----- 1. sign -----


def test_an_sgd_that_adds_the_gradient_is_caught_by_the_sign_rule() -> None:
    rows = judge(scalar_engine(buggy_nn.SgdAddsGradient), seed_neuron_case())
    signs = _rows(rows, "sign")
    assert {r.status for r in signs.values()} == {"fail"}
    assert signs["w2"].detail.startswith("dL/dw2 = −6 < 0: w2 must increase, but")
    assert "moved it from −1 to −1.06: uphill" in signs["w2"].detail
    assert signs["w1"].expected == pytest.approx(4.98) and signs["w1"].actual == 5.02
    # The gradients are right: only the update is wrong, and descent along it fails too.
    assert {r.status for r in rows if r.check == "grad"} == {"pass"}
    assert _rows(rows, "descent")["all"].status == "fail"
    assert "the step goes uphill" in _rows(rows, "descent")["all"].detail


def test_the_adding_sgd_fails_every_sign_row_it_moves() -> None:
    eng = scalar_engine(buggy_nn.SgdAddsGradient)
    for case in neurons(0, 300):
        for r in judge(eng, case):
            if r.check == "sign" and r.actual != r.expected and "dL/d" in r.detail:
                assert r.status == "fail", r.detail


def test_an_engine_optimizer_is_held_to_one_ulp_of_torch_optim_sgd() -> None:
    good = judge(scalar_engine(buggy_nn.SgdCorrect), seed_neuron_case())
    assert {r.status for r in good} == {"pass"}
    assert "SgdCorrect's SGD (lr = 0.01) moved it" in _rows(good, "sign")["w1"].detail
    off = _rows(judge(scalar_engine(SgdLrSlightlyOff), seed_neuron_case()), "sign")
    assert {r.status for r in off.values()} == {"fail"}
    assert "the update is not w ← w − lr·g" in off["w2"].detail


def test_without_an_optimizer_the_suite_applies_the_step() -> None:
    from tests.engines.alt import Value

    signs = _rows(judge(scalar_engine(Value, "alt"), seed_neuron_case()), "sign")
    assert "the suite's w ← w − lr·g (lr = 0.01) moved it from −1 to −0.94" in signs["w2"].detail
    assert all(r.status == "pass" for r in signs.values())


# ----- 2. descent -----


def test_armijo_backtracks_and_tells_flat_from_wrong() -> None:
    ts = [0.01 * 0.5**k for k in range(5)]
    # Overshoots at lr, fine after one halving.
    assert _armijo(1.0, ts, [1.5, 0.9, 0.95, 0.97, 0.98], 1.0, 1e-15) == (1, True)
    # Up at every step size, and the required decrease was measurable: a wrong direction.
    assert _armijo(1.0, ts, [1.1] * 5, 1.0, 1e-15) == (None, True)
    # The required decrease is below the rounding: nothing to judge.
    assert _armijo(1.0, ts, [1.0] * 5, 1e-20, 1e-15) == (None, False)


def test_a_gradient_of_the_wrong_sign_fails_descent() -> None:
    eng = scalar_engine(buggy_nn.LogDerivativeNegated)
    bce = [c for c in neurons(0, 300) if c.op == "neuron:sigmoid/bce"]
    descents = [r for c in bce for r in judge(eng, c) if r.check == "descent"]
    failing = [r for r in descents if r.status == "fail"]
    assert len(failing) > len(descents) // 2
    assert "no step size lowers L" in failing[0].detail or "uphill" in failing[0].detail


# ----- 3. magnitude -----


def _seed_context(engine_grads: tuple[float, ...]) -> StepContext:
    model = seed_neuron()
    want = torch_net(model, 0.01)
    names = ("w1", "w2", "b")
    return StepContext(
        model=model, names=names, values=(5.0, -1.0, 3.0), engine_grads=engine_grads,
        torch_grads=tuple(want.grads[n] for n in names), grad_tols=(1e-13,) * 3, stepped=None,
        lr=0.01, noise=1e-15, optimizer="the suite's w ← w − lr·g",
    )  # fmt: skip


def _record(check, node, expected, actual, tolerance, status, detail, fd=None) -> Record:
    return Record(suite="s", case="c", engine="e", check=check, node=node, op="op",
                  expected=expected, actual=actual, fd=fd, tolerance=tolerance, status=status,
                  detail=detail)  # fmt: skip


def test_magnitude_follows_the_lecture_third_sentence() -> None:
    rows = _rows(sign_and_update_rows(_seed_context((2.0, -6.0, 2.0)), _record), "magnitude")
    assert {r.status for r in rows.values()} == {"pass"}
    w2 = rows["w2"]
    assert w2.expected == pytest.approx(-6 * DELTA, rel=1e-3)  # the change torch measures
    assert w2.actual == pytest.approx(-6 * DELTA)  # dL/dw2·δ
    assert "its change is larger too" in w2.detail


def test_swapped_gradients_fail_the_first_order_prediction() -> None:
    # The engine claims dL/dw1 = 6 and dL/dw2 = −2: nudging w1 changes L by 2δ, not 6δ.
    rows = _rows(sign_and_update_rows(_seed_context((6.0, -2.0, 2.0)), _record), "magnitude")
    assert rows["w1"].status == rows["w2"].status == "fail"
    assert "the first-order prediction misses" in rows["w1"].detail
    assert rows["b"].status == "pass"


def test_the_order_is_judged_only_where_the_gap_is_resolvable() -> None:
    ctx = _seed_context((6.0, -2.0, 2.0))
    big, small = _Nudge(6e-4, 6e-4, 1e-8, 1e-8, False), _Nudge(2e-4, 2e-4, 1e-8, 1e-8, False)
    text, ok = _order(ctx, 0, 1, [big, small])
    assert ok and "its change is larger too" in text
    text, ok = _order(ctx, 0, 1, [small, big])  # the larger gradient moved L less
    assert not ok and "yet nudging w1 changed L less" in text
    close = dataclasses.replace(ctx, engine_grads=(2.0, -2.0 + 1e-9, 2.0))
    text, ok = _order(close, 0, 1, [small, big])
    assert ok and "too close to order" in text


# ----- zero gradients and kinks get verdicts of their own -----


def _dead_relu() -> NeuronSpec:
    """A relu neuron that no sample switches on: z = w·x + b < 0 on both samples."""
    return NeuronSpec("relu", "mse", (0.5, -0.25), -2.0, ((1.0, 1.0), (-1.0, 2.0)), (0.3, 0.7))


def test_a_dead_relu_gets_zero_gradient_verdicts() -> None:
    rows = judge(load_engine("refimpl"), neuron_case("neurons", "dead", _dead_relu()))
    for check in ("sign", "descent", "magnitude"):
        for r in rows:
            if r.check == check and r.node != "all":
                assert r.status == "pass" and "dead relu" in r.detail, r.detail
    assert "cannot learn from this batch" in _rows(rows, "descent")["w1"].detail
    assert "every gradient is 0" in _rows(rows, "descent")["all"].detail


def test_an_engine_that_lets_a_dead_relu_learn_fails_the_sign_rule() -> None:
    rows = judge(scalar_engine(buggy_nn.ReluPassesEverything),
                 neuron_case("neurons", "dead", _dead_relu()))  # fmt: skip
    sign = _rows(rows, "sign")["w1"]
    assert sign.status == "fail" and "must stay" in sign.detail
    assert _rows(rows, "descent")["w1"].status == "fail"


def test_a_nudge_across_a_kink_is_not_judged() -> None:
    # z = 1·w1 + b = 5e-5 on the only sample: nudging w1 by ±δ = 1e-4 crosses relu's kink.
    model = NeuronSpec("relu", "se", (0.5,), -0.49995, ((1.0,),), (1.0,))
    rows = judge(load_engine("refimpl"), neuron_case("neurons", "kink", model))
    magnitude = _rows(rows, "magnitude")
    assert magnitude["w1"].status == "unverified"
    assert "the relu input of the neuron on sample 1 across 0" in magnitude["w1"].detail
    assert "kink" in magnitude["w1"].detail
    assert not [r for r in rows if r.status == "fail"]


def test_statuses_stay_within_the_record_vocabulary() -> None:
    from conformance.core.records import STATUSES

    rows = judge(load_engine("refimpl"), neuron_case("neurons", "dead", _dead_relu()))
    assert {r.status for r in rows} <= set(STATUSES)
    assert {r.check for r in rows} == {"loss", "grad", "sign", "descent", "magnitude"}
    assert dataclasses.asdict(rows[0])["op"] == "neuron:relu/mse"


def test_the_sign_rule_catches_an_engine_optimizer_through_the_worker(
    conformance, tmp_path
) -> None:
    proc = conformance(
        "run", "--engine", "tests.engines.buggy_nn:SgdAddsGradient", "--suite", "examples",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    frame = pd.read_csv(tmp_path / "conformance.csv")
    failing = frame[frame["status"] == "fail"]
    assert set(failing["case"]) == {"seed-neuron"}
    assert set(failing["check"]) == {"sign", "descent"}
    assert "w2 must increase" in " ".join(failing["detail"])


class NanTanh(buggy_nn.Value):
    """tanh passes nan down instead of its derivative."""

    def tanh(self):
        out = super().tanh()
        out._backward = lambda g: setattr(self, "grad", self.grad + float("nan"))
        return out


def test_a_nan_gradient_fails_every_sign_row_instead_of_slipping_through() -> None:
    model = dataclasses.replace(seed_neuron(), activation="tanh", targets=(0.5,),
                                weights=(0.5, 0.25), bias=0.1)  # fmt: skip
    rows = judge(scalar_engine(NanTanh), neuron_case("neurons", "nan", model))
    for check in ("sign", "descent", "magnitude"):
        assert {r.status for r in rows if r.check == check} == {"fail"}, check
    assert "no rule about signs or steps can hold" in _rows(rows, "sign")["w1"].detail
