"""The lecture's worked example (ŷ = h·w1 + k·w2 + b, L = (y - ŷ)², one SGD step), two engines.

h = 1, k = -3, y = 10, w1 = 5, w2 = -1, b = 3; every number up to the gradients is an integer, so
those comparisons are exact. After the step (lr = 0.01) 4.98 and friends are not floats, so
those match the lecture to 1e-12.
"""

from __future__ import annotations

import pytest
import torch

from refimpl.seed import SEED_EXAMPLE, run_seed_example

# The lecture's numbers, written out here rather than read back from SEED_EXAMPLE.
LECTURE = {
    "y_hat": 11.0,
    "loss": 1.0,
    "grads": {"w1": 2.0, "w2": -6.0, "b": 2.0, "h": 10.0, "k": -2.0},
    "weights_after_step": {"w1": 4.98, "w2": -0.94, "b": 2.98},
    "y_hat_after_step": 10.78,
    "loss_after_step": 0.6084,
}


def _torch_run() -> dict:
    """The same example with float64 tensors and torch.optim.SGD."""
    t = {
        name: torch.tensor(v, dtype=torch.float64, requires_grad=True)
        for name, v in {**SEED_EXAMPLE.inputs, **SEED_EXAMPLE.weights}.items()
    }

    def forward() -> tuple[torch.Tensor, torch.Tensor]:
        y_hat = t["h"] * t["w1"] + t["k"] * t["w2"] + t["b"]
        return y_hat, (SEED_EXAMPLE.target - y_hat) ** 2

    y_hat, loss = forward()
    loss.backward()
    grads = {name: x.grad.item() for name, x in t.items()}
    torch.optim.SGD([t["w1"], t["w2"], t["b"]], lr=SEED_EXAMPLE.lr).step()
    with torch.no_grad():
        y_hat_after, loss_after = forward()
    return {
        "y_hat": y_hat.item(),
        "loss": loss.item(),
        "grads": grads,
        "weights_after_step": {n: t[n].item() for n in ("w1", "w2", "b")},
        "y_hat_after_step": y_hat_after.item(),
        "loss_after_step": loss_after.item(),
    }


@pytest.fixture(scope="module", params=["refimpl", "torch"])
def run(request: pytest.FixtureRequest) -> dict:
    return run_seed_example() if request.param == "refimpl" else _torch_run()


def test_seed_example_holds_the_lecture_numbers() -> None:
    assert SEED_EXAMPLE.inputs == {"h": 1.0, "k": -3.0}
    assert (SEED_EXAMPLE.target, SEED_EXAMPLE.lr) == (10.0, 0.01)
    assert SEED_EXAMPLE.weights == {"w1": 5.0, "w2": -1.0, "b": 3.0}
    for key, value in LECTURE.items():
        assert getattr(SEED_EXAMPLE, key) == value


def test_forward_is_exact(run: dict) -> None:
    assert run["y_hat"] == 11.0
    assert run["loss"] == 1.0


def test_gradients_are_exact(run: dict) -> None:
    """dL/dw1 = 2, dL/dw2 = -6, dL/db = 2, and the inputs' dL/dh = 10, dL/dk = -2."""
    assert run["grads"] == {"w1": 2.0, "w2": -6.0, "b": 2.0, "h": 10.0, "k": -2.0}


def test_one_sgd_step_reaches_the_lecture_numbers(run: dict) -> None:
    for name, want in LECTURE["weights_after_step"].items():
        assert run["weights_after_step"][name] == pytest.approx(want, rel=0, abs=1e-12)
    assert run["y_hat_after_step"] == pytest.approx(10.78, rel=0, abs=1e-12)
    assert run["loss_after_step"] == pytest.approx(0.6084, rel=0, abs=1e-12)


def test_refimpl_and_torch_take_the_same_step() -> None:
    """Same gradients, same lr, w - lr·g: the same floats (torch's SGD may round once more)."""
    ours, theirs = run_seed_example(), _torch_run()
    for name in ("w1", "w2", "b"):
        a, b = ours["weights_after_step"][name], theirs["weights_after_step"][name]
        assert abs(a - b) <= abs(b) * 2.0**-52
    assert ours["loss_after_step"] == pytest.approx(theirs["loss_after_step"], rel=1e-14)


def test_gradient_signs_say_which_way_to_move() -> None:
    """The slides' rules: positive gradient, the weight decreases; negative, it increases; and
    to first order ΔL ≈ (dL/dw)·Δw, so the weight with the larger |gradient| moves L more."""
    out = run_seed_example()
    before, after = SEED_EXAMPLE.weights, out["weights_after_step"]
    for name in ("w1", "w2", "b"):
        moved = after[name] - before[name]
        assert moved * out["grads"][name] < 0
    assert out["loss_after_step"] < out["loss"]

    delta = 1e-6

    def loss_with(name: str) -> float:
        w = {**before, name: before[name] + delta}
        y_hat = 1.0 * w["w1"] + -3.0 * w["w2"] + w["b"]
        return (10.0 - y_hat) ** 2

    change = {name: loss_with(name) - out["loss"] for name in ("w1", "w2")}
    assert change["w1"] == pytest.approx(2.0 * delta, rel=1e-4)
    assert change["w2"] == pytest.approx(-6.0 * delta, rel=1e-4)
    assert abs(change["w2"]) > abs(change["w1"])
