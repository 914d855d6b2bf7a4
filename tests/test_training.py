"nnnotes.training: the spirals, the training loop against torch.optim, and the torch training step of the benchmark."
import subprocess, sys
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from numpy.testing import assert_allclose

from nnnotes import losses
from nnnotes.backprop import MLP
from nnnotes.training import RULES, spirals, train
from nnnotes.checks import run_checks, rel_error, BENCHMARKS
import nnnotes.checks.training as ct

# ---------------------------------------------------------------- data and loop
def test_spirals_shapes_and_seed():
    x, y = spirals(n_per_class=7, n_classes=4, seed=3)
    assert x.shape == (28, 2) and x.dtype == np.float64 and y.shape == (28,)
    assert np.bincount(y).tolist() == [7] * 4
    assert_allclose(np.hypot(*x.T), np.tile(np.linspace(0.05, 1, 7), 4), rtol=1e-14)  # radii: the arms' r
    x2, _ = spirals(n_per_class=7, n_classes=4, seed=3)
    assert np.array_equal(x, x2) and not np.array_equal(x, spirals(n_per_class=7, n_classes=4, seed=4)[0])

@pytest.mark.parametrize("kw,msg", [(dict(noise=-0.1), "noise"), (dict(n_per_class=0), "n_per_class"),
                                    (dict(n_classes=0), "n_classes")])
def test_spirals_errors(kw, msg):
    with pytest.raises(ValueError, match=msg): spirals(**kw)

def test_train_rule_error():
    x, y = spirals(10)
    with pytest.raises(ValueError, match="rule: must be one of GD, Momentum, Adagrad, RMSprop, Adam"):
        train(MLP([2, 4, 3]), x, y, "SGD")

def test_train_is_gradient_descent():
    "One GD step of train equals θ − η·∇J from MLP.loss_and_grads, and returns the loss before the step."
    x, y = spirals(20)
    m, ref = MLP([2, 5, 3], seed=1), MLP([2, 5, 3], seed=1)
    loss0, grads = ref.loss_and_grads(x, y)
    out = train(m, x, y, "GD", steps=1, lr=0.1)
    assert out.shape == (1,) and out[0] == loss0
    for p, q, g in zip(m.params, ref.params, grads): assert_allclose(p, q - 0.1 * g, rtol=0, atol=1e-15)

@pytest.mark.parametrize("rule", list(RULES))
def test_train_matches_torch_optim(rule):
    "The loss curve of train equals the torch twin's (torch.autograd + torch.optim) for 30 steps, float64."
    ours, ref = ct._twin_curves(rule, steps=30)
    assert_allclose(ours, ref, rtol=1e-12, atol=0)

def test_registered_checks_pass():
    rows = run_checks(sections=["training"])
    assert len(rows) == 1 and all(r["passed"] for r in rows), rows

def test_import_does_not_pull_heavy_modules():
    for mod in ("nnnotes.training", "nnnotes.checks.training"):
        code = f"import {mod}, sys; assert not {{'torch', 'sympy', 'matplotlib'}} & set(sys.modules)"
        subprocess.run([sys.executable, "-c", code], check=True)

# ---------------------------------------------------------------- the benchmark's training step
def _two_steps(backend=None, n=2):
    x, y = ct._step_data()
    ours_m, torch_m = ct._step_models()
    ours = ct._sgd_step(ours_m, losses.cross_entropy, x, y, backend)
    ref = ct._sgd_step(torch_m, F.cross_entropy, x, y, backend)
    for _ in range(n): lo, lr = ours(), ref()
    return lo, lr, ours_m, torch_m

def test_step_models_start_equal():
    ours_m, torch_m = ct._step_models()
    assert [p.shape for p in ours_m.parameters()] == [(512, 256), (512,), (512, 512), (512,), (10, 512), (10,)]
    assert all(torch.equal(p, q) for p, q in zip(ours_m.parameters(), torch_m.parameters()))

def test_step_eager_matches_torch_modules():
    lo, lr, ours_m, torch_m = _two_steps()
    assert rel_error([lo.item()], [lr.item()]) < 1e-6
    assert max(rel_error(p, q) for p, q in zip(ours_m.parameters(), torch_m.parameters())) < 1e-6

def test_step_compiles_fullgraph():
    "The benchmark's compiled step: forward + nnnotes loss trace with fullgraph=True (aot_eager: no codegen)."
    lo, lr, ours_m, torch_m = _two_steps("aot_eager")
    assert rel_error([lo.item()], [lr.item()]) < 1e-6
    assert max(rel_error(p, q) for p, q in zip(ours_m.parameters(), torch_m.parameters())) < 1e-6

def test_bench_rows(monkeypatch):
    "The registered benchmark returns its two rows with stable keys and their goals (timing stubbed)."
    from nnnotes.checks import Timing
    assert ("training", "step") in BENCHMARKS
    timed = []
    def fake_time_pair(ours, ref, device="cpu", repeat=7, min_time=0.05):
        timed.append((ours(), ref()))
        return Timing(2.0, 1.0, 0.0)
    monkeypatch.setattr(ct, "time_pair", fake_time_pair)
    rows = ct._bench_step(quick=True, backend="eager")  # Dynamo's trace, fullgraph, no codegen
    assert [r.key for r in rows] == ["training.step_eager", "training.step_compiled"]
    assert [r.goal for r in rows] == [1.3, 1.2] and [r.ratio for r in rows] == [2.0, 2.0]
    assert len(timed) == 2 and all(rel_error([a.item()], [b.item()]) < 1e-6 for a, b in timed)
