"nnnotes.optim: trajectories against torch.optim (every option), NumPy loops, schedulers, fused, state_dict, bad input, GPU."
import copy, inspect, io, itertools, pickle, re, subprocess, sys
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
import nnnotes.optim as O

DEV = "cuda" if torch.cuda.is_available() else "cpu"

# ---- a small float64 problem: a tanh MLP on fixed data, three parameter tensors ----

def _mlp(device="cpu", dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X, Y = torch.randn(32, 4, generator=gen, dtype=dtype), torch.randn(32, 1, generator=gen, dtype=dtype)
    W1, b1, W2 = torch.randn(4, 8, generator=gen, dtype=dtype), torch.randn(8, generator=gen, dtype=dtype), torch.randn(8, 1, generator=gen, dtype=dtype)
    X, Y = X.to(device), Y.to(device)
    params = lambda: [t.to(device).clone().requires_grad_() for t in (W1, b1, W2)]
    loss = lambda ps: ((torch.tanh(X @ ps[0] + ps[1]) @ ps[2] - Y) ** 2).mean()
    return params, loss

def _run(make_opt, steps=150, device="cpu", dtype=torch.float64, on_step=None, sign=1.0):
    params, loss = _mlp(device, dtype)
    ps = params()
    opt = make_opt(ps)
    traj = []
    for i in range(steps):
        opt.zero_grad()
        (sign * loss(ps)).backward()
        opt.step()
        if on_step: on_step(i, opt)
        traj.append(torch.cat([p.detach().reshape(-1) for p in ps]))
    return torch.stack(traj)

PAIRS = {  # ours, torch.optim reference (same math)
    "GD": (lambda ps: O.GD(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1, foreach=True)),
    "Momentum": (lambda ps: O.Momentum(ps, lr=0.05, gamma=0.9), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, foreach=True)),
    "Adagrad": (lambda ps: O.Adagrad(ps, lr=0.1, eps=1e-3, eps_inside_sqrt=False), lambda ps: torch.optim.Adagrad(ps, lr=0.1, eps=1e-3, foreach=True)),
    "RMSprop": (lambda ps: O.RMSprop(ps, lr=0.01, gamma=0.9, eps=1e-3, eps_inside_sqrt=False), lambda ps: torch.optim.RMSprop(ps, lr=0.01, alpha=0.9, eps=1e-3, foreach=True)),
    "Adam": (lambda ps: O.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6), lambda ps: torch.optim.Adam(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, foreach=True)),
    "AdamW": (lambda ps: O.AdamW(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6), lambda ps: torch.optim.AdamW(ps, lr=0.02, betas=(0.8, 0.99), eps=1e-6, foreach=True)),
}

def test_import_does_not_import_torch():
    code = ("import nnnotes.optim as o, sys, numpy as np; "
            "d, s = o.adam(np.ones(3), None); d, s = o.rmsprop(np.ones(3), None); "
            "assert 'torch' not in sys.modules and 'sympy' not in sys.modules and 'matplotlib' not in sys.modules, "
            "[m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules]")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_lazy_classes():
    for name in O._all_:
        cls = getattr(O, name)
        assert issubclass(cls, torch.optim.Optimizer) and cls is getattr(O, name)
        assert cls.__module__ == "nnnotes.optim" and cls.__qualname__ == name and name in O.__all__
    with pytest.raises(AttributeError): O.NoSuchOptimizer
    opt = O.Adam([torch.zeros(2, requires_grad=True)])
    assert type(pickle.loads(pickle.dumps(opt))) is O.Adam

@pytest.mark.parametrize("name", list(PAIRS))
def test_trajectory_matches_torch_optim(name):
    ours, ref = PAIRS[name]
    a, b = _run(ours), _run(ref)
    assert a.shape == (150, 4 * 8 + 8 + 8) and (a[-1] - a[0]).abs().max() > 1e-2   # it moved
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)

@pytest.mark.parametrize("name", ["GD", "RMSprop", "Adam", "AdamW"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_same_kernels_same_bits(name, dtype):
    "GD, RMSprop (ε outside) and Adam issue torch.optim's foreach kernels in its order: identical bits."
    ours, ref = PAIRS[name]
    assert torch.equal(_run(ours, 60, dtype=dtype), _run(ref, 60, dtype=dtype))

@pytest.mark.parametrize("name", ["Momentum", "Adagrad"])
def test_float32_close(name):
    ours, ref = PAIRS[name]
    a, b = _run(ours, 60, dtype=torch.float32), _run(ref, 60, dtype=torch.float32)
    assert a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)

# ---- the notes' ε-inside variants against plain NumPy loops ----

def _numpy_traj(update, steps=150):
    rng = np.random.default_rng(3)
    M = rng.standard_normal((7, 7)); A = M @ M.T / 7 + 0.05 * np.eye(7); c = rng.standard_normal(7)
    th = 2 * rng.standard_normal(7)
    grad = lambda th: A @ th + np.tanh(th - c)
    out, state = [], {}
    for t in range(1, steps + 1):
        th = update(th, grad(th), t, state)
        out.append(th.copy())
    return np.array(out), th, A, c

def _notes_adagrad(lr, eps):
    def upd(th, g, t, s):
        s["G"] = s.get("G", 0) + g * g
        return th - lr * g / np.sqrt(s["G"] + eps)
    return upd

def _notes_rmsprop(lr, gamma, eps):
    def upd(th, g, t, s):
        s["G"] = gamma * s.get("G", 0) + (1 - gamma) * g * g
        return th - lr * g / np.sqrt(s["G"] + eps)
    return upd

def _torch_on_numpy_problem(make_opt, steps=150, device="cpu"):
    ref, _, A, c = _numpy_traj(lambda th, g, t, s: th, 1)
    rng = np.random.default_rng(3); rng.standard_normal((7, 7)); rng.standard_normal(7)
    th0 = 2 * rng.standard_normal(7)
    At, ct = torch.tensor(A, device=device), torch.tensor(c, device=device)
    ps = [torch.tensor(th0[:3], device=device, requires_grad=True), torch.tensor(th0[3:], device=device, requires_grad=True)]
    opt, out = make_opt(ps), []
    for _ in range(steps):
        opt.zero_grad()
        th = torch.cat(ps)
        (0.5 * th @ At @ th + torch.log(torch.cosh(th - ct)).sum()).backward()
        opt.step()
        out.append(torch.cat([p.detach() for p in ps]).cpu().numpy())
    return np.array(out)

@pytest.mark.parametrize("eps", [1e-8, 1e-3, 0.5])
def test_adagrad_eps_inside_matches_numpy_loop(eps):
    ref = _numpy_traj(_notes_adagrad(0.3, eps))[0]
    ours = _torch_on_numpy_problem(lambda ps: O.Adagrad(ps, lr=0.3, eps=eps))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)

@pytest.mark.parametrize("gamma,eps,steps", [(0.9, 1e-3, 150), (0.5, 1e-2, 150), (0.99, 0.5, 150), (0.9, 1e-8, 70)])
def test_rmsprop_eps_inside_matches_numpy_loop(gamma, eps, steps):
    """With ε = 1e-8 and a fixed η, RMSprop ends (after ~75 steps here) bouncing around the minimum with steps of about η,
    a regime that multiplies a 1-ulp difference in the gradient (autograd vs the NumPy formula) by ~10 per step:
    there the comparison covers the steps before it; with larger ε the iterates converge and all 150 steps agree."""
    ref = _numpy_traj(_notes_rmsprop(0.01, gamma, eps), steps)[0]
    ours = _torch_on_numpy_problem(lambda ps: O.RMSprop(ps, lr=0.01, gamma=gamma, eps=eps), steps)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)

def test_eps_placement_matters():
    "With ε = 0.5 the two placements give visibly different runs (so each test above can tell them apart)."
    a = _torch_on_numpy_problem(lambda ps: O.Adagrad(ps, lr=0.3, eps=0.5))
    b = _torch_on_numpy_problem(lambda ps: O.Adagrad(ps, lr=0.3, eps=0.5, eps_inside_sqrt=False))
    assert np.abs(a - b).max() > 1e-2

# ---- the NumPy rules ----

RULES = {
    "gd": (O.gd, dict(lr=0.1)),
    "momentum": (O.momentum, dict(lr=0.1, gamma=0.9)),
    "adagrad": (O.adagrad, dict(lr=0.1, eps=1e-3)),
    "rmsprop": (O.rmsprop, dict(lr=0.1, gamma=0.9, eps=1e-3)),
    "adam": (O.adam, dict(lr=0.1, betas=(0.9, 0.99), eps=1e-3)),
    "adamw": (O.adamw, dict(lr=0.1, betas=(0.9, 0.99), eps=1e-3, weight_decay=0.0)),
}

@pytest.mark.parametrize("name", list(RULES))
def test_numpy_rules_match_torch_optimizers(name):
    "The NumPy rule, driven by hand, gives the trajectory of the torch optimizer built on it."
    rule, hp = RULES[name]
    cls = {"gd": O.GD, "momentum": O.Momentum, "adagrad": O.Adagrad, "rmsprop": O.RMSprop, "adam": O.Adam, "adamw": O.AdamW}[name]
    def upd(th, g, t, s):
        d, s["state"] = rule(g, s.get("state"), **hp)
        return th - d
    ref = _numpy_traj(upd)[0]
    ours = _torch_on_numpy_problem(lambda ps: cls(ps, **hp))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)

@pytest.mark.parametrize("name", list(RULES))
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_rules_keep_dtype_and_inputs(name, dtype):
    rule, hp = RULES[name]
    g = np.linspace(-1, 1, 5).astype(dtype)
    d, state = rule(g, None, **hp)
    saved = copy.deepcopy(state)
    g2 = g.copy()
    d2, state2 = rule(g2, state, **hp)
    assert type(d) is np.ndarray and d.dtype == dtype and d2.dtype == dtype
    np.testing.assert_array_equal(g2, g)                       # the gradient is not changed
    for a, b in zip(state, saved): np.testing.assert_array_equal(a, b)   # nor the state passed in
    assert all(not np.shares_memory(x, y) for x, y in zip(state2, state) if isinstance(x, np.ndarray))   # a new state

@settings(max_examples=25, deadline=None)
@given(lr=st.floats(0, 1), b1=st.floats(0, 0.99), b2=st.floats(0, 0.999), eps=st.floats(1e-10, 1), seed=st.integers(0, 2**16))
def test_adam_rule_numpy_equals_torch_tensor(lr, b1, b2, eps, seed):
    "One formula, two backends: the rule on NumPy arrays and on a tensor agree over 20 steps."
    rng = np.random.default_rng(seed)
    sn = st_ = None
    for _ in range(20):
        g = rng.standard_normal(6) * 10.0 ** rng.uniform(-6, 2)
        dn, sn = O.adam(g, sn, lr=lr, betas=(b1, b2), eps=eps)
        dt, st_ = O.adam(torch.tensor(g), st_, lr=lr, betas=(b1, b2), eps=eps)
        assert isinstance(dt, torch.Tensor)
        np.testing.assert_allclose(dt.numpy(), dn, rtol=1e-13, atol=0)

@settings(max_examples=25, deadline=None)
@given(lr=st.floats(1e-4, 1), gamma=st.floats(0, 0.99), seed=st.integers(0, 2**16))
def test_momentum_is_exponentially_weighted_sum(lr, gamma, seed):
    "Δ⁽ᵗ⁾ = η Σ_k γ^(t−k) g⁽ᵏ⁾."
    gs = np.random.default_rng(seed).standard_normal((15, 3))
    state = None
    for g in gs: d, state = O.momentum(g, state, lr=lr, gamma=gamma)
    ews = lr * sum(gamma ** (15 - k) * gs[k - 1] for k in range(1, 16))
    np.testing.assert_allclose(d, ews, rtol=1e-12, atol=1e-15)

def test_momentum_with_changing_lr_follows_the_notes():
    "With a schedule, Momentum keeps Δ = γΔ + η_t g (the notes), which is not SGD's η_t·b."
    gs = [torch.tensor([1.0, -2.0], dtype=torch.float64), torch.tensor([0.5, 0.5], dtype=torch.float64)]
    p = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = O.Momentum([p], lr=0.1, gamma=0.9)
    for g, lr in zip(gs, (0.1, 0.01)):
        opt.param_groups[0]["lr"] = lr
        p.grad = g.clone(); opt.step()
    D1 = 0.1 * gs[0]; D2 = 0.9 * D1 + 0.01 * gs[1]
    torch.testing.assert_close(p.detach(), -(D1 + D2), rtol=1e-15, atol=0)

# ---- optimizer mechanics ----

def _saved_and_resumed(make, steps, weights_only=False):
    "Run `steps` steps; again, saving the state_dict (torch.save) halfway and going on from it in a new optimizer."
    half, saved = steps // 2, {}
    def save(i, opt):
        if i == half - 1:
            buf = io.BytesIO(); torch.save(opt.state_dict(), buf); saved["sd"] = buf.getvalue()
    first = _run(make, half, on_step=save)
    sd = torch.load(io.BytesIO(saved["sd"]), weights_only=weights_only)
    def resume(ps):
        with torch.no_grad():
            for p, x in zip(ps, torch.split(first[-1], [p.numel() for p in ps])): p.copy_(x.reshape(p.shape))
        opt = make(ps); opt.load_state_dict(sd); return opt
    return _run(make, steps), torch.cat([first, _run(resume, steps - half)]), sd

@pytest.mark.parametrize("name", list(PAIRS))
def test_state_dict_round_trip_continues_bit_for_bit(name):
    full, resumed, _ = _saved_and_resumed(PAIRS[name][0], 80)
    assert torch.equal(resumed, full)

def test_param_groups_with_different_lr():
    params, loss = _mlp()
    ps = params()
    opt = O.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.05}], lr=0.01)
    # the same run with two separate optimizers, one per group
    qs = params()
    o1, o2 = O.Adam(qs[:2], lr=0.01), O.Adam(qs[2:], lr=0.05)
    for _ in range(30):
        for o, xs in ((opt, ps), (None, qs)):
            for x in xs: x.grad = None
            loss(xs).backward()
            if o is None: o1.step(); o2.step()
            else: o.step()
    for a, b in zip(ps, qs): assert torch.equal(a, b)
    assert [g["lr"] for g in opt.param_groups] == [0.01, 0.05]

def test_zero_grad_and_params_without_grad():
    w, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = O.RMSprop([w, b], lr=0.1)
    w.sum().backward()                      # b gets no gradient
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and not torch.equal(w.detach(), torch.ones(3))
    assert len(opt.state[b]) == 0 and "square_avg" in opt.state[w]
    opt.zero_grad()
    assert w.grad is None
    w.sum().backward(); opt.zero_grad(set_to_none=False)
    assert torch.equal(w.grad, torch.zeros(3))

def test_mixed_dtypes_and_closure():
    a = torch.ones(3, dtype=torch.float32, requires_grad=True)
    b = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = O.Adam([a, b], lr=0.1, eps=0.0)
    def closure():
        opt.zero_grad(); l = (a.double() ** 2).sum() + (b ** 3).sum(); l.backward(); return l
    loss = opt.step(closure)
    assert float(loss.detach()) == 6.0 and a.dtype == torch.float32 and b.dtype == torch.float64
    torch.testing.assert_close(a.detach(), torch.full((3,), 0.9), rtol=1e-6, atol=0)
    torch.testing.assert_close(b.detach(), torch.full((3,), 0.9, dtype=torch.float64), rtol=1e-12, atol=0)

def test_adam_steps_are_per_parameter():
    "A parameter that joins late starts its own bias correction at t = 1, as in torch.optim.Adam."
    w, v = torch.zeros(2, dtype=torch.float64, requires_grad=True), torch.zeros(2, dtype=torch.float64, requires_grad=True)
    w2, v2 = w.detach().clone().requires_grad_(), v.detach().clone().requires_grad_()
    opt, ref = O.Adam([w, v], lr=0.1), torch.optim.Adam([w2, v2], lr=0.1, foreach=True)
    for i in range(5):
        for x, y in ((w, v), (w2, v2)):
            x.grad = torch.tensor([1.0, -0.5], dtype=torch.float64) * (i + 1)
            y.grad = torch.tensor([0.3, 0.2], dtype=torch.float64) if i >= 2 else None
        opt.step(); ref.step()
    assert opt.state[w]["step"] == 5 and opt.state[v]["step"] == 3
    torch.testing.assert_close(w, w2, rtol=0, atol=1e-15); torch.testing.assert_close(v, v2, rtol=0, atol=1e-15)

@pytest.mark.parametrize("make,arg", [
    (lambda p: O.GD(p, lr=-0.1), "lr"),
    (lambda p: O.GD(p, lr=float("inf")), "lr"),
    (lambda p: O.Momentum(p, lr=0.1, gamma=1.0), "gamma"),
    (lambda p: O.Momentum(p, lr=0.1, gamma=-0.1), "gamma"),
    (lambda p: O.Adagrad(p, eps=-1e-8), "eps"),
    (lambda p: O.RMSprop(p, gamma=1.2), "gamma"),
    (lambda p: O.RMSprop(p, lr=float("nan")), "lr"),
    (lambda p: O.Adam(p, betas=(1.0, 0.999)), "betas[0]"),
    (lambda p: O.Adam(p, betas=(0.9, -0.1)), "betas[1]"),
    (lambda p: O.Adam(p, betas=(0.9,)), "betas"),
    (lambda p: O.Adam(p, eps=-1.0), "eps"),
    (lambda p: O.Adam([{"params": p}, {"params": [torch.zeros(1, requires_grad=True)], "lr": -1.0}]), "lr"),
])
def test_bad_hyperparameters_raise_at_construction(make, arg):
    with pytest.raises(ValueError, match=rf"^{re.escape(arg)}:"):
        make([torch.zeros(2, requires_grad=True)])

@pytest.mark.parametrize("call,arg", [
    (lambda: O.gd(np.ones(2), lr=-1), "lr"), (lambda: O.momentum(np.ones(2), gamma=1), "gamma"),
    (lambda: O.adagrad(np.ones(2), eps=-1), "eps"), (lambda: O.adam(np.ones(2), betas=(0.9, 1)), "betas[1]"),
])
def test_bad_hyperparameters_numpy_rules(call, arg):
    with pytest.raises(ValueError, match=rf"^{re.escape(arg)}:"): call()

# ---- every hyperparameter checked, always: None, strings, bools, complex numbers, arrays, NaN, ±inf ----

HPARAMS = {  # class, NumPy rule, its hyperparameters with a valid value each
    "GD": (lambda ps, **kw: O.GD(ps, **{"lr": 0.1, **kw}), O.gd, dict(lr=0.1, weight_decay=0.0)),
    "Momentum": (lambda ps, **kw: O.Momentum(ps, **{"lr": 0.1, **kw}), O.momentum, dict(lr=0.1, gamma=0.9)),
    "Adagrad": (O.Adagrad, O.adagrad, dict(lr=0.1, eps=1e-8)),
    "RMSprop": (O.RMSprop, O.rmsprop, dict(lr=0.1, gamma=0.9, eps=1e-8)),
    "Adam": (O.Adam, O.adam, dict(lr=0.1, eps=1e-8, weight_decay=0.0)),
    "AdamW": (O.AdamW, O.adamw, dict(lr=0.1, eps=1e-8, weight_decay=0.0)),
}
BAD_NUMBERS = [None, "0.1", True, 1j, [0.1, 0.2], np.array([0.1, 0.2]), float("nan"), float("inf"), -float("inf")]
NUMBER_CASES = [(n, h, v) for n, (_, _, hp) in HPARAMS.items() for h in hp for v in BAD_NUMBERS]

@pytest.mark.parametrize("name,hparam,bad", NUMBER_CASES, ids=[f"{n}-{h}-{v!r}" for n, h, v in NUMBER_CASES])
def test_every_number_hyperparameter_checked(name, hparam, bad):
    "Construction, add_param_group and the NumPy rule all reject a bad number, naming the argument (TypeError or ValueError)."
    cls, rule, _ = HPARAMS[name]
    with pytest.raises((TypeError, ValueError), match=rf"^{re.escape(hparam)}:"): cls([torch.zeros(2, requires_grad=True)], **{hparam: bad})
    opt = cls([torch.zeros(2, requires_grad=True)])
    with pytest.raises((TypeError, ValueError), match=rf"^{re.escape(hparam)}:"): opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], hparam: bad})
    assert len(opt.param_groups) == 1
    with pytest.raises((TypeError, ValueError), match=rf"^{re.escape(hparam)}:"): rule(np.ones(2), None, **{hparam: bad})

@pytest.mark.parametrize("bad", [None, "0.9", 0.9, (0.9, None), (0.9, "0.99"), (True, 0.99), (0.9, float("nan")), (0.9, 0.99, 0.999)])
def test_betas_checked(bad):
    with pytest.raises((TypeError, ValueError), match=r"^betas(\[\d\])?:"): O.Adam([torch.zeros(2, requires_grad=True)], betas=bad)
    with pytest.raises((TypeError, ValueError), match=r"^betas(\[\d\])?:"): O.adam(np.ones(2), betas=bad)

@pytest.mark.parametrize("name", ["Adagrad", "RMSprop"])
@pytest.mark.parametrize("bad", ["no", "False", 1, 0, 0.0, None, np.array([True, False])])
def test_flags_must_be_bools(name, bad):
    cls, rule, _ = HPARAMS[name]
    with pytest.raises(TypeError, match=r"^eps_inside_sqrt:"): cls([torch.zeros(2, requires_grad=True)], eps_inside_sqrt=bad)
    with pytest.raises(TypeError, match=r"^eps_inside_sqrt:"): rule(np.ones(2), None, eps_inside_sqrt=bad)
    opt = cls([torch.zeros(2, requires_grad=True)])
    with pytest.raises(TypeError, match=r"^eps_inside_sqrt:"): opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "eps_inside_sqrt": bad})

def test_lr_none_fails_at_construction_not_at_step():
    "The reviewer's case: GD([p], lr=None) was accepted and step() failed later with a bare TypeError."
    p = torch.zeros(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"^lr: expected a real number"): O.GD([p], lr=None)
    with pytest.raises(TypeError, match=r"^lr:"): O.Adam([p], lr="0.1")
    with pytest.raises(TypeError, match=r"^eps_inside_sqrt:"): O.Adagrad([p], eps_inside_sqrt="no")
    with pytest.raises(TypeError, match=r"^lr:"): O.gd(np.ones(2), lr=None)

def test_hyperparameter_changed_after_construction_fails_at_step():
    p = torch.zeros(2, requires_grad=True); p.grad = torch.ones(2)
    opt = O.RMSprop([p]); opt.param_groups[0]["eps_inside_sqrt"] = "no"
    with pytest.raises(TypeError, match=r"^eps_inside_sqrt:"): opt.step()

@pytest.mark.parametrize("name", list(HPARAMS))
def test_valid_number_kinds_accepted_and_equivalent(name):
    "Python ints, NumPy scalars and NumPy bools for flags give the same steps as Python floats; NumPy numbers do not leak float64."
    cls, rule, hp = HPARAMS[name]
    kinds = [{k: np.float32(v) for k, v in hp.items()}, {k: np.float64(v) for k, v in hp.items()}]
    if "eps_inside_sqrt" in inspect.signature(rule).parameters: kinds.append({**hp, "eps_inside_sqrt": np.False_})
    g = np.float32([0.5, -2.0, 3.0])
    for kw in kinds:
        d, _ = rule(g, None, **kw)
        assert d.dtype == np.float32, (kw, d.dtype)
        ref = {k: (bool(v) if isinstance(v, np.bool_) else float(v)) for k, v in kw.items()}
        np.testing.assert_array_equal(d, rule(g, None, **ref)[0])
        ps = [torch.zeros(3, requires_grad=True)]; ps[0].grad = torch.tensor(g)
        opt = cls(ps, **kw); opt.step()
        assert all(type(opt.param_groups[0][O._GROUP_KEYS.get(k, k)]) in (float, bool) for k in kw)
    p = torch.zeros(3, requires_grad=True); p.grad = torch.tensor(g); q = p.detach().clone().requires_grad_(); q.grad = torch.tensor(g)
    cls([p], **{**hp, "lr": torch.tensor(0.1)}).step(); cls([q], **hp).step()   # a 0-d tensor lr, as torch.optim accepts
    torch.testing.assert_close(p, q, rtol=1e-6, atol=0)
    assert rule(np.ones(2), None, **{**hp, "lr": 0})[0].tolist() == [0.0, 0.0]   # lr = 0 and an int are valid

def test_negative_zero_and_edges_of_ranges():
    "The boundaries as torch.optim: lr = 0, eps = 0, gamma = 0 and beta = 0 are valid; gamma = 1 and beta = 1 are not."
    p = [torch.zeros(2, requires_grad=True)]
    O.Momentum(p, lr=0, gamma=0); O.Adam(p, lr=0.0, betas=(0, 0), eps=0); O.RMSprop(p, lr=1e-3, gamma=0.0, eps=0.0)
    with pytest.raises(ValueError, match=r"^gamma:"): O.RMSprop(p, gamma=1)
    with pytest.raises(ValueError, match=r"^betas\[0\]:"): O.Adam(p, betas=[1, 0.9])

def test_sparse_and_complex_rejected():
    p = torch.zeros(3, dtype=torch.complex64, requires_grad=True)
    p.grad = torch.ones(3, dtype=torch.complex64)
    with pytest.raises(ValueError, match="complex"): O.Adam([p]).step()

# ---- GPU ----

@pytest.mark.gpu
@pytest.mark.parametrize("name", list(PAIRS))
def test_gpu_trajectory_matches_torch_optim(name):
    ours, ref = PAIRS[name]
    a, b = _run(ours, device="cuda"), _run(ref, device="cuda")
    assert a.device.type == "cuda"
    torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    torch.testing.assert_close(a.cpu(), _run(ours), rtol=0, atol=1e-10)   # and the CPU run

@pytest.mark.gpu
@pytest.mark.parametrize("name", ["GD", "RMSprop", "Adam"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_gpu_low_precision_same_bits(name, dtype):
    ours, ref = PAIRS[name]
    a, b = _run(ours, 40, device="cuda", dtype=dtype), _run(ref, 40, device="cuda", dtype=dtype)
    assert a.dtype == dtype and torch.equal(a, b)

@pytest.mark.gpu
@pytest.mark.parametrize("name", list(PAIRS))
def test_gpu_state_dict_moves_to_cpu(name):
    "A checkpoint taken on the GPU resumes on the CPU (load_state_dict moves the state to the params' device)."
    ours = PAIRS[name][0]
    params, loss = _mlp("cuda")
    ps = params(); opt = ours(ps)
    for _ in range(10):
        opt.zero_grad(); loss(ps).backward(); opt.step()
    sd = opt.state_dict()
    qs = [p.detach().cpu().clone().requires_grad_() for p in ps]
    opt2 = ours(qs); opt2.load_state_dict(sd)
    for st in opt2.state.values():
        for v in st.values():
            if torch.is_tensor(v): assert v.device.type == "cpu"
    params_cpu, loss_cpu = _mlp("cpu")
    opt2.zero_grad(); loss_cpu(qs).backward(); opt2.step()
    opt.zero_grad(); loss(ps).backward(); opt.step()
    for a, b in zip(ps, qs): torch.testing.assert_close(a.detach().cpu(), b.detach(), rtol=0, atol=1e-12)

# ---- performance, without a stopwatch ----

@pytest.mark.parametrize("name", list(PAIRS))
def test_no_more_foreach_kernels_than_torch_optim(name):
    "A step of ours launches a sub-multiset of torch.optim's foreach kernels (the load-independent half of the ≤ 1.1× goal)."
    from collections import Counter
    from torch.profiler import profile, ProfilerActivity
    def kernels(opt):
        opt.step()                                   # past the first step's state creation
        with profile(activities=[ProfilerActivity.CPU]) as prof: opt.step()
        return Counter(e.name for e in prof.events() if e.name.startswith("aten::"))
    def params():
        ps = [torch.randn(10).requires_grad_() for _ in range(5)]
        for p in ps: p.grad = torch.randn(10)
        return ps
    ours, ref = PAIRS[name]
    k_ours, k_ref = kernels(ours(params())), kernels(ref(params()))
    foreach = Counter({k: v for k, v in k_ours.items() if k.startswith("aten::_foreach")})
    assert foreach and not (foreach - k_ref), f"ours {dict(foreach)} vs torch {dict(k_ref)}"
    assert sum(k_ours.values()) <= sum(k_ref.values())     # no hidden per-tensor ops either


# ---- every option and combination against torch.optim (float64, non-quadratic, 60 steps) ----

OPTIONS = {  # ours, torch's class, torch's arguments, the flags each takes
    "GD": (dict(lr=0.1), "SGD", dict(lr=0.1), ("maximize",)),
    "Momentum": (dict(lr=0.05, gamma=0.9), "SGD", dict(lr=0.05, momentum=0.9), ("maximize", "nesterov")),
    "Adagrad": (dict(lr=0.1, eps=1e-3, eps_inside_sqrt=False), "Adagrad", dict(lr=0.1, eps=1e-3), ("maximize",)),
    "RMSprop": (dict(lr=0.01, gamma=0.9, eps=1e-3, eps_inside_sqrt=False), "RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-3), ("maximize",)),
    "Adam": (dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), "Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), ("maximize", "amsgrad")),
    "AdamW": (dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), "AdamW", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6), ("maximize", "amsgrad")),
}
COMBOS = [(name, wd, dict(zip(flags, on))) for name, (_, _, _, flags) in OPTIONS.items()
          for wd in (0.0, 0.05) for on in itertools.product((False, True), repeat=len(flags))]

@pytest.mark.parametrize("name,wd,flags", COMBOS, ids=[f"{n}-wd{w}-" + "-".join(k for k, v in f.items() if v) for n, w, f in COMBOS])
def test_every_option_matches_torch_optim(name, wd, flags):
    "weight_decay × maximize × nesterov/amsgrad: our iterates equal torch.optim's to 1e-9 (maximize runs on −loss)."
    ours_kw, ref_name, ref_kw, _ = OPTIONS[name]
    sign = -1.0 if flags.get("maximize") else 1.0
    ours = _run(lambda ps: getattr(O, name)(ps, **ours_kw, **flags, weight_decay=wd), 60, sign=sign)
    ref = _run(lambda ps: getattr(torch.optim, ref_name)(ps, **ref_kw, **flags, weight_decay=wd, foreach=True), 60, sign=sign)
    assert (ours[-1] - ours[0]).abs().max() > 1e-2
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-9)

def test_weight_decay_and_maximize_change_the_run():
    "Each option does something (so the parity above could fail): decay shrinks θ, maximize on J climbs."
    base = _run(lambda ps: O.Adam(ps, lr=0.02))
    decayed = _run(lambda ps: O.Adam(ps, lr=0.02, weight_decay=0.5))
    assert decayed[-1].norm() < base[-1].norm() - 1e-2
    th0 = torch.cat([p.detach().reshape(-1) for p in _mlp()[0]()])
    up, down = _run(lambda ps: O.GD(ps, lr=0.05, maximize=True), 1), _run(lambda ps: O.GD(ps, lr=0.05), 1)
    torch.testing.assert_close(up[0] - th0, -(down[0] - th0), rtol=0, atol=1e-15)

def test_nesterov_and_amsgrad_change_the_run():
    assert (_run(lambda ps: O.Momentum(ps, lr=0.05, nesterov=True)) - _run(lambda ps: O.Momentum(ps, lr=0.05))).abs().max() > 1e-3
    assert (_run(lambda ps: O.Adam(ps, lr=0.02, amsgrad=True)) - _run(lambda ps: O.Adam(ps, lr=0.02))).abs().max() > 1e-3

def test_adamw_decay_is_decoupled():
    "AdamW: θ ← θ(1 − ηλ) − Adam's step on the gradient alone; Adam(weight_decay) feeds λθ through √v̂ instead."
    g, th = np.array([1.0, -2.0, 0.5]), np.array([3.0, -1.0, 2.0])
    d_w, _ = O.adamw(g, None, lr=0.1, weight_decay=0.2, param=th)
    np.testing.assert_allclose(d_w, 0.1 * 0.2 * th + O.adam(g, None, lr=0.1)[0], rtol=1e-15)
    d_c, _ = O.adam(g, None, lr=0.1, weight_decay=0.2, param=th)
    np.testing.assert_allclose(d_c, O.adam(g + 0.2 * th, None, lr=0.1)[0], rtol=1e-15)
    assert np.abs(d_w - d_c).max() > 1e-3

@pytest.mark.parametrize("rule", [O.gd, O.momentum, O.adagrad, O.rmsprop, O.adam])
def test_numpy_weight_decay_needs_param(rule):
    with pytest.raises(ValueError, match=r"^param:"): rule(np.ones(2), None, weight_decay=0.1)
    d, _ = rule(np.ones(2), None, weight_decay=0.1, param=np.full(2, 2.0))
    np.testing.assert_allclose(d, rule(np.full(2, 1.2), None)[0], rtol=1e-15)      # g + λθ
    np.testing.assert_allclose(rule(np.ones(2), None, maximize=True)[0], rule(-np.ones(2), None)[0], rtol=0)

# ---- schedulers ----

from nnnotes.checks.optim import _lr_scheduler

def _sched_run(make_opt, which, steps=40):
    lrs, moms, box = [], [], {}
    def make(ps):
        opt = make_opt(ps); box["s"] = _lr_scheduler(which, opt); return opt
    def on_step(i, opt):
        g = opt.param_groups[0]
        lrs.append(float(g["lr"])); moms.append(float(g["betas"][0] if "betas" in g else g["momentum"]))
        box["s"].step(*([float(i % 7)] if which == "ReduceLROnPlateau" else []))
    return _run(make, steps, on_step=on_step), np.array(lrs), np.array(moms)

@pytest.mark.parametrize("which", _lr_scheduler(None, None))
def test_every_scheduler_drives_ours_as_torch(which):
    "The same lr (and γ/β₁) at every step as torch's optimizer under the same scheduler; Adam's and AdamW's iterates equal."
    import torch.optim.lr_scheduler as L
    assert set(_lr_scheduler(None, None)) >= {n for n in dir(L) if isinstance(getattr(L, n), type) and issubclass(getattr(L, n), L.LRScheduler)
                                             and not n.startswith("_") and n != "LRScheduler"}
    for ours, ref in ((lambda ps: O.Adam(ps, lr=0.02), lambda ps: torch.optim.Adam(ps, lr=0.02)),
                      (lambda ps: O.AdamW(ps, lr=0.02), lambda ps: torch.optim.AdamW(ps, lr=0.02)),
                      (lambda ps: O.Momentum(ps, lr=0.05), lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9))):
        (a, la, ma), (b, lb, mb) = _sched_run(ours, which), _sched_run(ref, which)
        np.testing.assert_array_equal(la, lb); np.testing.assert_array_equal(ma, mb)
        assert la.max() > la.min()                                              # the schedule moved lr
        if "betas" in ours([torch.zeros(1, requires_grad=True)]).defaults: torch.testing.assert_close(a, b, rtol=0, atol=1e-9)

@pytest.mark.parametrize("which", ["OneCycleLR", "CyclicLR"])
@pytest.mark.parametrize("name", ["Momentum", "Adam", "AdamW"])
def test_cycle_momentum(which, name):
    "cycle_momentum=True cycles Momentum's γ (group key `momentum`) and Adam's/AdamW's β₁, and the step uses them."
    opt = getattr(O, name)([torch.zeros(2, requires_grad=True)], lr=0.05)
    sched = _lr_scheduler(which, opt)
    seen = set()
    for _ in range(20):
        g = opt.param_groups[0]; seen.add(g["betas"][0] if "betas" in g else g["momentum"])
        opt.param_groups[0]["params"][0].grad = torch.ones(2); opt.step(); sched.step()
    assert len(seen) > 5

def test_momentum_group_key_and_alias():
    p = torch.zeros(2, requires_grad=True)
    opt = O.Momentum([{"params": [p], "gamma": 0.5}], lr=0.1, gamma=0.8)
    assert opt.param_groups[0]["momentum"] == 0.5 and "gamma" not in opt.param_groups[0] and opt.defaults["momentum"] == 0.8
    with pytest.raises(ValueError, match="are one hyperparameter"): O.Momentum([{"params": [p], "gamma": 0.5, "momentum": 0.5}], lr=0.1)
    opt.param_groups[0]["momentum"] = 0.0                       # a scheduler's or a user's edit is used at the next step
    p.grad = torch.ones(2); opt.step(); opt.step()
    torch.testing.assert_close(p.detach(), torch.full((2,), -0.2), rtol=0, atol=1e-7)

# ---- bad arguments ----

INTERNAL = re.compile(r"<locals>|_make_|RuleOptimizer|_setup|_Rule")

@pytest.mark.parametrize("name", list(PAIRS))
def test_unknown_argument_names_it(name):
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(TypeError, match=rf"^{name}: unknown argument 'wieght_decay' \(did you mean 'weight_decay'\?\)") as e:
        getattr(O, name)(p, lr=0.1, wieght_decay=0.1)
    assert not INTERNAL.search(str(e.value))
    with pytest.raises(ValueError, match=r"param group: unknown key 'wieght_decay' \(did you mean 'weight_decay'\?\)") as e:
        getattr(O, name)([{"params": p, "wieght_decay": 0.1}], lr=0.1)
    assert not INTERNAL.search(str(e.value))
    opt = getattr(O, name)(p, lr=0.1)
    with pytest.raises(ValueError, match="unknown key 'momentun'"): opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "momentun": 0.9})
    with pytest.raises(TypeError, match=rf"^{name}: ") as e: getattr(O, name)(p, 0.1, *([0.5] * 9))
    assert not INTERNAL.search(str(e.value))
    with pytest.raises(TypeError, match=r"^weight_decay:"): getattr(O, name)(p, lr=0.1, weight_decay="0.1")
    with pytest.raises(ValueError, match=r"^weight_decay:"): getattr(O, name)(p, lr=0.1, weight_decay=-0.1)
    with pytest.raises(TypeError, match=r"^maximize:"): getattr(O, name)(p, lr=0.1, maximize=1)
    with pytest.raises(TypeError, match=r"^fused:"): getattr(O, name)(p, lr=0.1, fused="yes")

def test_missing_lr_and_option_flags():
    p = [torch.zeros(2, requires_grad=True)]
    for cls in (O.GD, O.Momentum):
        with pytest.raises(TypeError, match=rf"^{cls.__name__}: missing a required argument: 'lr'") as e: cls(p)
        assert not INTERNAL.search(str(e.value))
    with pytest.raises(TypeError, match=r"^nesterov:"): O.Momentum(p, lr=0.1, nesterov="yes")
    with pytest.raises(TypeError, match=r"^amsgrad:"): O.AdamW(p, amsgrad=None)
    with pytest.raises(TypeError, match=r"unknown argument 'nesterov'"): O.GD(p, lr=0.1, nesterov=True)
    with pytest.raises(TypeError, match=r"unknown argument 'amsgrad'"): O.RMSprop(p, amsgrad=True)

def test_signatures_as_designed():
    sig = lambda c: list(inspect.signature(c).parameters)
    assert sig(O.GD) == ["params", "lr", "weight_decay", "maximize", "fused"]
    assert sig(O.Momentum) == ["params", "lr", "gamma", "weight_decay", "nesterov", "maximize", "fused"]
    assert sig(O.Adam) == ["params", "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "fused"]
    assert inspect.signature(O.AdamW).parameters["weight_decay"].default == 1e-2
    assert inspect.signature(O.Adam).parameters["weight_decay"].default == 0.0
    assert inspect.signature(O.GD).parameters["lr"].default is inspect.Parameter.empty
    p = [torch.zeros(2, requires_grad=True)]
    a, b = O.Adam(p, 0.01, (0.8, 0.9), 1e-6, 0.1, True), O.Adam(p, lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=True)
    assert a.defaults == b.defaults

# ---- state round trips, including AMSGrad's max and fresh optimizers after torch.load(weights_only=True) ----

ROUND = {"GD": lambda ps: O.GD(ps, lr=0.1, weight_decay=0.01), "Momentum": lambda ps: O.Momentum(ps, lr=0.05, nesterov=True),
         "Adagrad": lambda ps: O.Adagrad(ps, lr=0.1), "RMSprop": lambda ps: O.RMSprop(ps, lr=0.01, maximize=False),
         "Adam": lambda ps: O.Adam(ps, lr=0.02, amsgrad=True), "AdamW": lambda ps: O.AdamW(ps, lr=0.02, amsgrad=True)}

@pytest.mark.parametrize("name", list(ROUND))
def test_state_round_trip_weights_only(name):
    full, resumed, sd = _saved_and_resumed(ROUND[name], 60, weights_only=True)
    if name in ("Adam", "AdamW"): assert all("max_exp_avg_sq" in s for s in sd["state"].values())
    assert torch.equal(resumed, full)

# ---- fused=True ----

class _CountingBackend:
    "A torch.compile backend that counts compiles and hands the graph to aot_eager (cheap) or inductor."
    def __init__(self, inner="aot_eager"): self.n, self.inner = 0, inner
    def __call__(self, gm, example_inputs):
        self.n += 1
        from torch._dynamo.backends.registry import lookup_backend
        return lookup_backend(self.inner)(gm, example_inputs)

@pytest.fixture
def backend(monkeypatch):
    b = _CountingBackend()
    monkeypatch.setattr(O, "_FUSED_BACKEND", b)
    return b

@pytest.mark.parametrize("name", list(PAIRS))
def test_fused_equals_eager_traced(name, backend):
    "The compiled rule (aot_eager: the traced graph, without inductor) gives the eager trajectory to float32 rounding."
    ours = ROUND[name]
    def fused(ps):
        opt = ours(ps)
        for g in opt.param_groups: g["fused"] = True
        return opt
    a, b = _run(ours, 40, dtype=torch.float32), _run(fused, 40, dtype=torch.float32)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert backend.n == 1                                 # one group, one bucket: compiled once for 40 steps

def test_fused_no_recompile_under_scheduler(backend):
    "OneCycleLR changes lr and β₁ every step: still one compile."
    p = [torch.randn(5, requires_grad=True), torch.randn(2, 3, requires_grad=True)]
    opt = O.Adam(p, lr=0.1, fused=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=30)
    for _ in range(25):
        for x in p: x.grad = torch.ones_like(x)
        opt.step(); sched.step()
    assert backend.n == 1

def test_fused_inductor_cpu_matches_eager_and_torch_fused():
    "The real thing on CPU: inductor-compiled AdamW (amsgrad) against our eager step and torch's fused=True, float32."
    def with_kw(**kw): return lambda ps: O.AdamW(ps, lr=0.02, amsgrad=True, **kw)
    a, b = _run(with_kw(), 40, dtype=torch.float32), _run(with_kw(fused=True), 40, dtype=torch.float32)
    c = _run(lambda ps: torch.optim.AdamW(ps, lr=0.02, amsgrad=True, fused=True), 40, dtype=torch.float32)
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6); torch.testing.assert_close(b, c, rtol=1e-5, atol=1e-6)

def test_fused_state_round_trip(backend):
    make = lambda ps: O.Adam(ps, lr=0.02, amsgrad=True, fused=True)
    full = _run(make, 20, dtype=torch.float32)
    saved = {}
    def save(i, opt):
        if i == 9: buf = io.BytesIO(); torch.save(opt.state_dict(), buf); saved["sd"] = buf.getvalue()
    first = _run(make, 10, dtype=torch.float32, on_step=save)
    def resume(ps):
        with torch.no_grad():
            for p, x in zip(ps, torch.split(first[-1], [p.numel() for p in ps])): p.copy_(x.reshape(p.shape))
        opt = make(ps); opt.load_state_dict(torch.load(io.BytesIO(saved["sd"]), weights_only=True)); return opt
    assert torch.equal(torch.cat([first, _run(resume, 10, dtype=torch.float32)]), full)

@pytest.mark.gpu
@pytest.mark.parametrize("name", list(ROUND))
def test_gpu_fused_matches_eager(name):
    "CUDA, inductor: fused=True equals the eager step to float32 rounding."
    def fused(ps):
        opt = ROUND[name](ps)
        for g in opt.param_groups: g["fused"] = True
        return opt
    a, b = _run(ROUND[name], 40, device="cuda", dtype=torch.float32), _run(fused, 40, device="cuda", dtype=torch.float32)
    assert b.device.type == "cuda"
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
