"Property tests, SciPy comparisons, bad input, backends and GPU for nnnotes.information (plain pytest + hypothesis; no nbdev)."
import math, os, subprocess, sys
import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from hypothesis import assume, given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from numpy.testing import assert_allclose

from nnnotes.information import (chain_rule_terms, conditional_entropy, cross_entropy, entropy, hill_number, joint_entropy,
                                 kl_divergence, mutual_information)

EPS = np.finfo(np.float64).eps
settings.register_profile("nnnotes", max_examples=60, deadline=None)
settings.register_profile("thorough", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("NNNOTES_HYPOTHESIS", "nnnotes"))


# ---------------------------------------------------------------- strategies

def _normalise(w, axis=-1):
    s = w.sum(axis, keepdims=True)
    assume(np.all(s > 0))
    return w / s

# weights in [0, 1] with plenty of exact zeros and of tiny values
_weights = st.one_of(st.just(0.0), st.floats(1e-300, 1e-5), st.floats(0, 1))

@st.composite
def dists(draw, n_max=12, batch=False):
    "A float64 distribution along the last axis (a batch of up to 3 when `batch`)."
    n = draw(st.integers(1, n_max))
    shape = (draw(st.integers(1, 3)), n) if batch else (n,)
    return _normalise(draw(arrays(np.float64, shape, elements=_weights)))

@st.composite
def dist_pairs(draw, n_max=12):
    n = draw(st.integers(1, n_max))
    p = _normalise(draw(arrays(np.float64, (n,), elements=_weights)))
    q = _normalise(draw(arrays(np.float64, (n,), elements=_weights)))
    return p, q

@st.composite
def tables(draw, ndim_min=2, ndim_max=2):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=ndim_min, max_size=ndim_max)))
    return _normalise(draw(arrays(np.float64, shape, elements=_weights)).reshape(-1)).reshape(shape)


# ---------------------------------------------------------------- properties

@given(dists(batch=True))
def test_entropy_bounds(p):
    "0 ≤ H ≤ log n."
    h = entropy(p)
    assert np.all(h >= 0)
    assert np.all(h <= np.log(p.shape[-1]) * (1 + 4 * EPS) + 4 * EPS)

@given(dist_pairs())
def test_kl_nonnegative_and_zero_iff_equal(pq):
    "D_KL ≥ 0, = 0 for P = Q, and above Pinsker's bound ½‖P − Q‖₁² (so 0 only if P = Q)."
    p, q = pq
    d = kl_divergence(p, q)
    assert kl_divergence(p, p) == 0
    assert d >= -8 * EPS  # the true KL of float vectors whose sums differ from 1 by rounding can be ~ -1e-16
    l1 = np.abs(p - q).sum()
    assert d >= 0.5 * l1**2 * (1 - 1e-9) - 8 * EPS

@given(dist_pairs())
def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    ce, h, d = cross_entropy(p, q), entropy(p), kl_divergence(p, q)
    if np.isinf(d): assert ce == np.inf
    else: assert_allclose(ce, h + d, rtol=1e-12, atol=1e-13)

@given(tables())
def test_mutual_information_nonnegative(pxy):
    i = mutual_information(pxy)
    assert i >= -8 * EPS
    assert_allclose(i, entropy(pxy.sum(0)) - conditional_entropy(pxy), rtol=1e-10, atol=1e-13)

@given(dists(6), dists(6))
def test_mutual_information_zero_for_independent(px, py):
    assert abs(mutual_information(np.outer(px, py))) <= 16 * EPS

@given(tables(1, 4))
def test_chain_rule(p):
    "Σ H(X_i | X_1..X_{i-1}) = H(X_1..X_n), every term ≥ 0, and the terms match the differences of joint entropies."
    terms = chain_rule_terms(p)
    assert terms.shape == (p.ndim,)
    assert np.all(terms >= -8 * EPS)  # a marginal summed from many cells can exceed 1 by an ulp
    assert_allclose(terms.sum(), joint_entropy(p), rtol=1e-12, atol=1e-14)
    H = [0.0] + [joint_entropy(p.sum(tuple(range(i, p.ndim)))) for i in range(1, p.ndim)] + [joint_entropy(p)]
    assert_allclose(terms, np.diff(H), rtol=1e-10, atol=1e-13)

ORDERS = [0, 0.1, 0.5, 0.9, 1 - 1e-9, 1, 1 + 1e-9, 1.2, 1.5, 2, 3, 10, 100, math.inf]

@given(dists(batch=True))
def test_hill_numbers_non_increasing_in_order(p):
    D = np.array([hill_number(p, q) for q in ORDERS])
    assert np.all(np.diff(D, axis=0) <= 1e-12 * D[1:])
    n_present = (p > 0).sum(-1)
    assert np.all(D >= 1 - 1e-12) and np.all(D <= n_present * (1 + 1e-12))
    assert_allclose(D[0], n_present, rtol=0, atol=0)
    assert_allclose(D[ORDERS.index(1)], np.exp(entropy(p)), rtol=1e-13)
    assert_allclose(D[-1], 1 / p.max(-1), rtol=1e-15)

@given(dists(), st.floats(1e-15, 1e-3), st.sampled_from([-1, 1]))
def test_hill_number_continuous_at_one(p, dq, sign):
    "D^q within O(|q − 1|) of exp(H) near q = 1: no cancellation blow-up."
    h = entropy(p)
    var = (p * (np.log(np.where(p > 0, p, 1)) + h) ** 2).sum()  # d log D / dq at q = 1 is −var/2
    d = hill_number(p, 1 + sign * dq)
    assert abs(np.log(d) - h) <= var * dq + 1e-14 * max(1, h)


# ---------------------------------------------------------------- references

@pytest.mark.parametrize("base", [None, 2, 10, math.e, 0.5])
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_entropy_and_kl_match_scipy(base, axis):
    g = np.random.default_rng(abs(axis) * 7 + 1)
    p, q = g.dirichlet(np.full(3 * 4 * 5, 0.3)).reshape(3, 4, 5), g.random((3, 4, 5))
    p[0, 0, 0] = 0
    p, q = p / p.sum(axis, keepdims=True), q / q.sum(axis, keepdims=True)
    assert_allclose(entropy(p, base, axis), scipy.stats.entropy(p, base=base, axis=axis), rtol=1e-13, atol=1e-15)
    assert_allclose(kl_divergence(p, q, base, axis), scipy.stats.entropy(p, q, base=base, axis=axis), rtol=1e-13, atol=1e-15)
    ref = scipy.stats.entropy(p, base=base, axis=axis) + scipy.stats.entropy(p, q, base=base, axis=axis)
    assert_allclose(cross_entropy(p, q, base, axis), ref, rtol=1e-13, atol=1e-15)

@given(dist_pairs())
def test_matches_entr_and_rel_entr(pq):
    p, q = pq
    assert_allclose(entropy(p), scipy.special.entr(p).sum(), rtol=1e-13, atol=1e-300)
    ref = scipy.special.rel_entr(p, q).sum()
    if np.isinf(ref): assert kl_divergence(p, q) == np.inf
    else: assert_allclose(kl_divergence(p, q), ref, rtol=1e-12, atol=1e-14)

def test_conventions():
    assert entropy([1.0, 0.0]) == 0 and str(entropy([1.0, 0.0])) == "0.0"
    assert kl_divergence([0.5, 0.5, 0.0], [0.5, 0.0, 0.5]) == np.inf
    assert kl_divergence([0.5, 0.0, 0.5], [0.5, 0.5, 0.0]) == np.inf
    assert cross_entropy([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert kl_divergence([0.0, 1.0], [0.5, 0.5]) == pytest.approx(np.log(2), rel=1e-15)
    assert entropy([0.25] * 4, base=2) == 2.0
    assert hill_number([0.5, 0.5, 0.0], 0) == 2.0
    assert hill_number([0.25] * 4, 1) == pytest.approx(4.0, rel=1e-15)

def test_kl_near_equal_keeps_precision():
    "Q within 1e-7 of P: each term of the sum to a few ulps (reference: exact rationals via math.fsum of log1p)."
    g = np.random.default_rng(5)
    p = g.dirichlet(np.ones(40)); q = p * (1 + 1e-7 * g.standard_normal(40))
    from nnnotes.information import _rel_entr
    ref = p * np.log1p((p - q) / q)  # p − q exact here (Sterbenz), so this is correct to ~2 ulps
    assert_allclose(_rel_entr(np, p, q), ref, rtol=4 * EPS, atol=0)

def test_hill_number_near_one_matches_series():
    "log D^q = H − (q−1)·Var(log p)/2 + O((q−1)²): checks q = 1 ± 1e-9 to ~1e-15."
    p = np.array([0.5, 0.25, 0.125, 0.125])
    lp = np.log(p); h = -(p * lp).sum(); var = (p * (lp + h) ** 2).sum()
    for dq in (1e-9, -1e-9, 1e-6, -1e-6):
        assert_allclose(np.log(hill_number(p, 1 + dq)), h - dq * var / 2, rtol=0, atol=1e-14 + dq**2)


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize("fn", [entropy, lambda p: kl_divergence(p, p), lambda p: cross_entropy(p, p), lambda p: hill_number(p, 2)])
@pytest.mark.parametrize("bad,msg", [([0.5, np.nan, 0.5], "has NaN or infinite"), ([0.5, np.inf], "has NaN or infinite"),
                                     ([1.5, -0.5], "has negative entries"), ([0.5, 0.4], "must sum to 1 (tolerance 1.5e-08)")])
def test_bad_distributions(fn, bad, msg):
    with pytest.raises(ValueError, match=r"^p: " + msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        fn(np.array(bad))

def test_bad_q_names_q():
    with pytest.raises(ValueError, match="^q: must sum to 1"): kl_divergence([0.5, 0.5], [0.5, 0.6])
    with pytest.raises(ValueError, match="^q: has negative"): cross_entropy([0.5, 0.5], [1.5, -0.5])

def test_tolerance_is_sqrt_eps():
    entropy([0.5, 0.5 + 1e-9]); entropy(np.array([0.5, 0.5001], np.float32)); entropy(torch.tensor([0.5, 0.5001]))
    with pytest.raises(ValueError, match="tolerance 1.5e-08"): entropy([0.5, 0.5 + 1e-7])
    with pytest.raises(ValueError, match="tolerance 3.5e-04"): entropy(torch.tensor([0.5, 0.501]))

def test_shapes_orders_bases_tables():
    with pytest.raises(ValueError, match=r"p and q: shapes differ, \(2,\) vs \(3,\)"): kl_divergence([0.5, 0.5], [0.2, 0.3, 0.5])
    with pytest.raises(ValueError, match=r"p and q: shapes differ"): cross_entropy(np.full((2, 2), 0.5), np.full((2,), 0.5))
    for order in (-1, -1e-12): 
        with pytest.raises(ValueError, match=r"order: must lie in \[0, inf\]"): hill_number([0.5, 0.5], order)
    with pytest.raises(ValueError, match=r"order: must lie in \[0, inf\]"): hill_number([0.5, 0.5], float("nan"))
    for base in (1, 0, -2, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="base: must be a finite number > 0 and ≠ 1"): entropy([0.5, 0.5], base=base)
    for f in (conditional_entropy, mutual_information):
        with pytest.raises(ValueError, match="pxy: must be a 2-D joint table"): f(np.full(4, 0.25))
        with pytest.raises(ValueError, match="pxy: must sum to 1"): f(np.full((2, 2), 0.3))
    with pytest.raises(ValueError, match="p: must sum to 1"): joint_entropy(np.full((2, 2), 0.3))
    with pytest.raises(ValueError, match="p: must have at least one axis"): chain_rule_terms(np.float64(1.0))

def test_extreme_valid_input_no_warnings():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert entropy(np.array([1e-320, 1.0])) >= 0
        assert kl_divergence([1.0, 0.0], [0.0, 1.0]) == np.inf
        assert_allclose(kl_divergence([1.0, 0.0], [1e-320, 1.0]), -np.log(1e-320), rtol=1e-15)  # p/q overflows
        assert_allclose(kl_divergence([1e-320, 1.0], [1.0, 0.0]), np.inf)
        assert hill_number([1e-300, 1 - 1e-300], 1e300) == 1.0
        assert np.isfinite(hill_number([1e-320, 1.0], 0.7)) and np.isfinite(hill_number([1e-320, 1.0], 1.3))
        assert conditional_entropy(np.array([[0.5, 0.0], [0.0, 0.5]])) == 0


# ---------------------------------------------------------------- backends

def test_import_pulls_no_torch_sympy_matplotlib():
    code = "import nnnotes.information, sys; bad = [m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules]; assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def _all_results(p):
    "Every function on a batch `p` of shape (2, 4) of distributions."
    return [entropy(p), kl_divergence(p, p.flip(-1) if torch.is_tensor(p) else p[..., ::-1]), cross_entropy(p, p), hill_number(p, 0.5),
            hill_number(p, 1), hill_number(p, 2.5), hill_number(p, math.inf), joint_entropy(p / 2), conditional_entropy(p / 2),
            mutual_information(p / 2), chain_rule_terms(p / 2)]

@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_keeps_dtype(dtype):
    p = np.array([[0.5, 0.25, 0.125, 0.125], [0.25] * 4], dtype)
    for y in _all_results(p):
        assert isinstance(y, (np.ndarray, np.generic)) and y.dtype == dtype

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_torch_in_torch_out(dtype):
    p = torch.tensor([[0.5, 0.25, 0.125, 0.125], [0.25] * 4], dtype=dtype)
    ref = _all_results(p.double().numpy())
    tol = {torch.float16: 4e-3, torch.bfloat16: 3e-2, torch.float32: 1e-6, torch.float64: 1e-14}[dtype]
    for y, r in zip(_all_results(p), ref):
        assert torch.is_tensor(y) and y.dtype == dtype
        assert_allclose(y.double().numpy(), r, rtol=tol, atol=tol)

def test_torch_gradients():
    p = torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64, requires_grad=True)
    entropy(p).backward()
    torch.testing.assert_close(p.grad, -(p.detach().log() + 1), rtol=1e-14, atol=0)
    p.grad = None
    kl_divergence(p, q).backward()
    torch.testing.assert_close(p.grad, (p / q).detach().log() + 1, rtol=1e-14, atol=1e-15)
    torch.testing.assert_close(q.grad, -(p / q).detach(), rtol=1e-14, atol=0)
    # at P = Q: ∂D/∂p = 1, ∂D/∂q = −1 (the log1p branch)
    p2, q2 = p.detach().clone().requires_grad_(), p.detach().clone().requires_grad_()
    kl_divergence(p2, q2).backward()
    torch.testing.assert_close(p2.grad, torch.ones(4, dtype=torch.float64), rtol=0, atol=0)
    torch.testing.assert_close(q2.grad, -torch.ones(4, dtype=torch.float64), rtol=0, atol=0)

@pytest.mark.parametrize("order", [0.3, 1 - 1e-9, 1.0, 1 + 1e-9, 2.0, 20.0, math.inf])
def test_hill_gradcheck(order):
    z = torch.randn(2, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: hill_number(torch.softmax(v, -1), order), (z,), eps=1e-6, atol=1e-7)

def test_gradcheck_tables():
    z = torch.randn(24, dtype=torch.float64, generator=torch.Generator().manual_seed(4), requires_grad=True)
    w = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    f = lambda v: (chain_rule_terms(torch.softmax(v, 0).reshape(2, 3, 4)) * w).sum() + mutual_information(torch.softmax(v, 0).reshape(4, 6)) \
        + conditional_entropy(torch.softmax(v, 0).reshape(6, 4)) + cross_entropy(torch.softmax(v[:12], 0), torch.softmax(v[12:], 0))
    assert torch.autograd.gradcheck(f, (z,), eps=1e-6, atol=1e-7)


# ---------------------------------------------------------------- GPU

def _cuda_cases():
    g = np.random.default_rng(11)
    p, q = g.dirichlet(np.full(50, 0.5), 8), g.dirichlet(np.full(50, 0.5), 8)
    p[:, ::7] = 0
    return p / p.sum(-1, keepdims=True), q

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_gpu_matches_cpu(dtype):
    p, q = _cuda_cases()
    pc, qc = torch.tensor(p, dtype=dtype), torch.tensor(q, dtype=dtype)
    pg, qg = pc.cuda(), qc.cuda()
    tol = {torch.float16: 2e-3, torch.bfloat16: 2e-2, torch.float32: 2e-6, torch.float64: 1e-13}[dtype]
    pairs = [(entropy(pg, 2), entropy(pc, 2)), (kl_divergence(pg, qg), kl_divergence(pc, qc)), (cross_entropy(pg, qg), cross_entropy(pc, qc)),
             (hill_number(pg, 0.7), hill_number(pc, 0.7)), (hill_number(pg, 1 + 1e-9), hill_number(pc, 1 + 1e-9)), (hill_number(pg, 3), hill_number(pc, 3)),
             (mutual_information(pg / 8), mutual_information(pc / 8)), (conditional_entropy(pg / 8), conditional_entropy(pc / 8)),
             (chain_rule_terms(pg.reshape(2, 4, 50) / 8), chain_rule_terms(pc.reshape(2, 4, 50) / 8))]
    for g_, c_ in pairs:
        assert g_.device.type == "cuda" and g_.dtype == dtype
        torch.testing.assert_close(g_.cpu().double(), c_.double(), rtol=tol, atol=tol)

@pytest.mark.gpu
def test_gpu_float64_matches_scipy_and_differentiates():
    p, q = _cuda_cases()
    pg = torch.tensor(p, device="cuda", requires_grad=True); qg = torch.tensor(q, device="cuda")
    assert_allclose(entropy(pg).detach().cpu().numpy(), scipy.stats.entropy(p, axis=-1), rtol=1e-13)
    assert_allclose(kl_divergence(pg, qg).detach().cpu().numpy(), scipy.stats.entropy(p, q, axis=-1), rtol=1e-13)
    kl_divergence(pg, qg).sum().backward()
    m = p > 0
    assert_allclose(pg.grad.cpu().numpy()[m], (np.log(p / q) + 1)[m], rtol=1e-12)

@pytest.mark.gpu
def test_gpu_bad_input_raises():
    with pytest.raises(ValueError, match="p: must sum to 1"): entropy(torch.full((3,), 0.4, device="cuda"))
    with pytest.raises(ValueError, match="p: has NaN"): entropy(torch.tensor([float("nan"), 1.0], device="cuda"))
    assert kl_divergence(torch.tensor([0.5, 0.5], device="cuda"), torch.tensor([1.0, 0.0], device="cuda")).item() == math.inf


# ---------------------------------------------------------------- review fixes

def test_cross_entropy_gradient_at_zero_p():
    "∂CE/∂p_i = −log q_i also where p_i = 0 (it was 0); ∂CE/∂q = −p/q, 0 where p = q = 0."
    p = torch.tensor([.5, .5, 0.], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([.2, .3, .5], dtype=torch.float64, requires_grad=True)
    gp, gq = torch.autograd.grad(cross_entropy(p, q), (p, q))
    pn, qn = p.detach().clone().requires_grad_(), q.detach().clone().requires_grad_()
    np_, nq = torch.autograd.grad(-(pn * qn.log()).sum(), (pn, qn))  # the plain formula: no 0·log 0 here
    torch.testing.assert_close(gp, np_, rtol=1e-15, atol=0)
    torch.testing.assert_close(gq, nq, rtol=1e-15, atol=0)
    assert_allclose(gp.numpy(), [1.6094379124341003, 1.2039728043259361, 0.6931471805599453], rtol=1e-15)
    # p = q = 0: value 0, both derivatives finite (0)
    p0 = torch.tensor([1., 0.], dtype=torch.float64, requires_grad=True); q0 = torch.tensor([1., 0.], dtype=torch.float64, requires_grad=True)
    c = cross_entropy(p0, q0)
    assert c.item() == 0
    gp0, gq0 = torch.autograd.grad(c, (p0, q0))
    assert gp0[1].item() == 0 and gq0[1].item() == 0 and gq0[0].item() == -1

def test_kl_gradient_conventions():
    "KL: log(p/q) + 1 and −p/q where p, q > 0; at p = 0 −log q (= ∂CE/∂p − ∂H/∂p); ±inf, never NaN, where q = 0 < p."
    p = torch.tensor([.5, .5, 0., 0.], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([.2, .3, .5, 0.], dtype=torch.float64, requires_grad=True)
    gp, gq = torch.autograd.grad(kl_divergence(p, q), (p, q))
    pd, qd = p.detach(), q.detach()
    torch.testing.assert_close(gp[:2], (pd / qd).log()[:2] + 1, rtol=1e-15, atol=0)
    torch.testing.assert_close(gq[:3], -(pd / qd)[:3], rtol=1e-15, atol=0)
    assert gp[2].item() == -math.log(0.5) and gp[3].item() == 0 and gq[3].item() == 0
    gce = torch.autograd.grad(cross_entropy(p, q), p)[0]; gh = torch.autograd.grad(entropy(p), p)[0]
    torch.testing.assert_close(gp, gce - gh, rtol=1e-15, atol=0)
    p2 = torch.tensor([.5, .5, 0.], dtype=torch.float64, requires_grad=True); q2 = torch.tensor([.5, 0., .5], dtype=torch.float64, requires_grad=True)
    for f in (kl_divergence, cross_entropy):
        gp2, gq2 = torch.autograd.grad(f(p2, q2), (p2, q2))
        assert not torch.isnan(gp2).any() and not torch.isnan(gq2).any(), (f.__name__, gp2, gq2)
        assert gp2[1].item() == math.inf and gq2[1].item() == -math.inf

def test_kl_gradient_subnormal_q_no_nan():
    "q below 1/max-float (1/q overflows): the gradient is the true finite value, not NaN from the unused branch."
    p = torch.tensor([1e-300, 1 - 1e-300], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([1e-310, 1 - 1e-310], dtype=torch.float64, requires_grad=True)
    gp, gq = torch.autograd.grad(kl_divergence(p, q), (p, q))
    assert torch.isfinite(gp).all() and torch.isfinite(gq).all()
    assert_allclose(gp[0].item(), math.log(1e-300 / 1e-310) + 1, rtol=1e-14)

@pytest.mark.parametrize("fn", [entropy, lambda p, axis=None: kl_divergence(p, np.flip(p), axis=axis), lambda p, axis=None: cross_entropy(p, p, axis=axis)])
def test_axis_none_large(fn):
    "axis=None above the 2**15-entry block size (it raised TypeError from np.moveaxis(x, None, -1))."
    g = np.random.default_rng(2)
    p = g.random((200, 200)); p /= p.sum()
    small = fn(p[:100, :100] / p[:100, :100].sum(), axis=None)
    big = fn(p, axis=None)
    ref = fn(p.ravel(), axis=-1)
    assert type(big) is np.float64 and type(small) is np.float64
    assert_allclose(big, ref, rtol=1e-13)

def test_large_1d_returns_numpy_scalar():
    "A 1-D NumPy input above the block size returns np.float64, like a small one and like scipy.stats.entropy."
    p = np.full(40000, 1 / 40000)
    for y in (entropy(p), kl_divergence(p, p), cross_entropy(p, p), entropy(p, base=2), entropy(p[:10] / p[:10].sum())):
        assert type(y) is np.float64, type(y)
    assert type(entropy(p.astype(np.float32))) is np.float32

def test_string_base_and_order_raise():
    for f in (entropy, joint_entropy, chain_rule_terms):
        with pytest.raises(TypeError, match="^base: "): f([0.5, 0.5], base="2")
    with pytest.raises(TypeError, match="^base: "): kl_divergence([0.5, 0.5], [0.5, 0.5], base="2")
    with pytest.raises(TypeError, match="^base: "): entropy([0.5, 0.5], base=2j)
    with pytest.raises(TypeError, match="^order: "): hill_number([0.5, 0.5], "2")
    with pytest.raises(ValueError, match="^base: must be a single number"): entropy([0.5, 0.5], base=[2, 10])


# ---------------------------------------------------------------- inside PyTorch programs

import warnings
from torch.func import functional_call, grad, vmap

# array_api_compat caches its namespace lookups; Dynamo traces through the cache and says so
pytestmark = pytest.mark.filterwarnings("ignore:Dynamo detected a call to a `functools.lru_cache`")

NAMES = ["entropy", "joint_entropy", "conditional_entropy", "mutual_information", "kl_divergence",
         "cross_entropy", "hill_number", "chain_rule_terms"]

def _losses(p, q):
    "Every function on softmax outputs `p` (..., 24) against targets `q`: one scalar each (tables: first row)."
    row = p.reshape(-1, 24)[0]
    t = lambda *shape: row.reshape(shape)
    weights = torch.arange(1.0, 4.0, dtype=p.dtype, device=p.device)
    return (entropy(p, base=2).sum(), joint_entropy(t(2, 12)), conditional_entropy(t(4, 6)),
            mutual_information(t(6, 4)), (kl_divergence(q, p) + kl_divergence(p, q, axis=-1)).sum(),
            cross_entropy(q, p).sum(),
            sum(hill_number(p, o).sum() for o in (0, 0.5, 1, 1 + 1e-9, 2, 3.5, math.inf)),
            (chain_rule_terms(t(2, 3, 4)) * weights).sum())

def _model_and_data(dtype=torch.float64, n=5):
    torch.manual_seed(0)
    model = torch.nn.Linear(8, 24, dtype=dtype)
    x = torch.randn(n, 8, dtype=dtype)
    q = torch.softmax(torch.randn(n, 24, dtype=dtype), -1)
    return model, x, q

def test_explain_reports_no_graph_break():
    "A Linear model, softmax, then every function: one graph, zero breaks."
    model, x, q = _model_and_data()
    f = lambda x: _losses(torch.softmax(model(x), -1), q)
    out = torch._dynamo.explain(f)(x)
    assert out.graph_break_count == 0, out.break_reasons
    assert out.graph_count == 1

def test_compiled_values_and_gradients_equal_eager():
    "torch.compile(fullgraph=True) (aot_eager backend): each function's value and parameter gradients as eager."
    model, x, q = _model_and_data()
    f = lambda x: _losses(torch.softmax(model(x), -1), q)
    compiled = torch.compile(f, backend="aot_eager", fullgraph=True)
    eager, comp = f(x), compiled(x)
    for name, e, c in zip(NAMES, eager, comp):
        torch.testing.assert_close(c, e, rtol=1e-13, atol=1e-15, msg=name)
        ge = torch.autograd.grad(e, list(model.parameters()), retain_graph=True)
        gc = torch.autograd.grad(c, list(model.parameters()), retain_graph=True)
        for a, b in zip(gc, ge): torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-14, msg=name)

def test_inductor_compile_matches_eager():
    "One real inductor compile: entropy, KL and cross entropy of a Linear model's softmax, float32."
    model, x, q = _model_and_data(torch.float32, 16)
    def f(x):
        p = torch.softmax(model(x), -1)
        return (entropy(p) + kl_divergence(p, q) + cross_entropy(q, p)).mean()
    compiled = torch.compile(f, fullgraph=True)
    e, c = f(x), compiled(x)
    torch.testing.assert_close(c, e, rtol=1e-5, atol=1e-6)
    for a, b in zip(torch.autograd.grad(c, list(model.parameters())), torch.autograd.grad(e, list(model.parameters()))):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

@pytest.mark.parametrize("i", range(len(NAMES)), ids=NAMES)
def test_vmap_grad_per_sample_equals_loop(i):
    "vmap(grad(f)) with functional_call: per-sample gradients equal a loop of per-sample autograd."
    model, x, q = _model_and_data()
    params = {k: v.detach() for k, v in model.named_parameters()}
    def loss(params, xi, qi):
        return _losses(torch.softmax(functional_call(model, params, (xi,)), -1), qi)[i]
    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, q)
    for n in range(len(x)):
        model.zero_grad()
        loss(dict(model.named_parameters()), x[n], q[n]).backward()
        for k, v in model.named_parameters():
            torch.testing.assert_close(per_sample[k][n], v.grad, rtol=1e-12, atol=1e-14, msg=f"{NAMES[i]} {k}")

def test_export_module_with_entropy():
    "torch.export of a module whose forward ends in entropy and cross entropy of a softmax."
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.lin = torch.nn.Linear(8, 6)
        def forward(self, x, q):
            p = torch.softmax(self.lin(x), -1)
            return entropy(p) + cross_entropy(q, p)
    torch.manual_seed(0)
    m, x, q = M(), torch.randn(3, 8), torch.softmax(torch.randn(3, 6), -1)
    ep = torch.export.export(m, (x, q))
    torch.testing.assert_close(ep.module()(x, q), m(x, q), rtol=1e-6, atol=1e-7)

def test_tracing_skips_value_checks_keeps_argument_checks():
    "Eager calls raise on bad values; under vmap the value checks are skipped, shape and argument checks are not."
    bad = torch.full((2, 3), 0.5)
    with pytest.raises(ValueError, match="p: must sum to 1"): entropy(bad)
    assert vmap(entropy)(bad).shape == (2,)  # documented: data checks skipped while tracing
    good = torch.full((2, 4), 0.25)
    with pytest.raises(ValueError, match="p and q: shapes differ"): vmap(lambda p: kl_divergence(p, p[:2]))(good)
    with pytest.raises(TypeError, match="base: "): vmap(lambda p: entropy(p, base="2"))(good)
    with pytest.raises(ValueError, match="order: must lie"): vmap(lambda p: hill_number(p, -1.0))(good)
    with pytest.raises(TypeError, match="order: must be a Python number"):
        vmap(lambda p: hill_number(p, torch.tensor(2.0)))(good)
    with pytest.raises(ValueError, match="pxy: must be a 2-D joint table"): vmap(mutual_information)(good)
    assert hill_number(torch.tensor([0.5, 0.5]), torch.tensor(2.0)).item() == pytest.approx(2.0)  # eager: fine

@pytest.mark.parametrize("fn", [kl_divergence, cross_entropy])
def test_torch_with_numpy_is_a_type_error(fn):
    t, a = torch.tensor([0.5, 0.5]), np.array([0.5, 0.5])
    for args in ((t, a), (a, t)):
        with pytest.raises(TypeError, match="one is a torch tensor and the other a NumPy array"): fn(*args)


# ---------------------------------------------------------------- half precision

def _dyadic(dtype, seed=0, n=(6, 16), positive=False):
    "Distributions of entries k/256, exact in float16 and bfloat16, summing to exactly 1 (all > 0 if `positive`)."
    g = np.random.default_rng(seed)
    lo = 1 if positive else 0
    k = lo + g.multinomial(256 - lo * n[1], g.dirichlet(np.full(n[1], 0.7), n[0]))
    return torch.tensor(k / 256, dtype=dtype)

HALF_FNS = {"entropy": lambda p, q: entropy(p), "kl_divergence": kl_divergence,
            "cross_entropy": cross_entropy, "hill_number": lambda p, q: hill_number(p, 2.5),
            "hill_near_1": lambda p, q: hill_number(p, 1 + 1e-3), "joint_entropy": lambda p, q: joint_entropy(p[:1]),
            "conditional_entropy": lambda p, q: conditional_entropy(p[:1]),
            "mutual_information": lambda p, q: mutual_information(p[:1]),
            "chain_rule_terms": lambda p, q: chain_rule_terms(p[:1])}

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", list(HALF_FNS))
def test_half_is_float32_rounded_once(name, dtype):
    "Value and gradient in float16/bfloat16 are the float32 computation's, rounded once to the dtype."
    f = HALF_FNS[name]
    p, q = _dyadic(dtype, 1), _dyadic(dtype, 2, positive=True)
    ph, p32 = p.clone().requires_grad_(), p.float().requires_grad_()
    y, y32 = f(ph, q), f(p32, q.float())
    assert y.dtype == dtype
    torch.testing.assert_close(y, y32.to(dtype), rtol=0, atol=0)
    y.float().sum().backward(); y32.sum().backward()
    assert ph.grad.dtype == dtype
    torch.testing.assert_close(ph.grad, p32.grad.to(dtype), rtol=0, atol=0)

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["float16", "bfloat16"])
def test_half_within_half_an_ulp_of_float64(dtype):
    "float32's own error is far below a half-precision ulp: results within 0.5 ulp (+1 %) of float64."
    p, q = _dyadic(dtype, 3, (64, 32)), _dyadic(dtype, 4, (64, 32), positive=True)
    fns = {"entropy": lambda p, q: entropy(p), "kl_divergence": kl_divergence, "cross_entropy": cross_entropy,
           "hill_number": lambda p, q: hill_number(p, 2.0)}
    for name, f in fns.items():
        y, ref = f(p, q), f(p.double(), q.double())  # the same (exact) inputs in float64
        tiny = torch.finfo(dtype).tiny
        ulp = torch.finfo(dtype).eps * 2.0 ** torch.floor(torch.log2(ref.abs().clamp_min(tiny)))
        worst = ((y.double() - ref).abs() / ulp).max().item()
        assert worst <= 0.5 + 0.01, (name, worst)

def test_numpy_float16_computed_in_float32():
    p = (np.random.default_rng(0).multinomial(256, np.full(16, 1 / 16), 4) / 256).astype(np.float16)
    for f in (entropy, lambda p: hill_number(p, 2.0), lambda p: cross_entropy(p, p)):
        y = f(p)
        assert y.dtype == np.float16
        assert np.array_equal(y, np.asarray(f(p.astype(np.float32))).astype(np.float16))


# ---------------------------------------------------------------- counts

@pytest.mark.parametrize("counts", [np.array([10, 20, 30, 40]), np.histogram(np.random.default_rng(0).normal(size=300), 8)[0],
                                    torch.tensor([3, 0, 5]), np.array([[2.0, 1.0], [0.0, 4.0]])], ids=["ints", "histogram", "torch", "floats"])
def test_counts_point_to_estimators(counts):
    with pytest.raises(ValueError, match=r"must sum to 1.*counts.*nnnotes\.estimators\.entropy\(counts, method=") as e:
        entropy(counts)
    assert str(e.value).startswith("p: must sum to 1")

def test_counts_hint_per_function():
    c = np.array([[3, 1], [0, 2]])
    with pytest.raises(ValueError, match=r"nnnotes\.estimators\.mutual_information\(table, method="): mutual_information(c)
    with pytest.raises(ValueError, match=r"nnnotes\.estimators\.hill_number\(counts, order, method="): hill_number(c, 2)
    with pytest.raises(ValueError, match=r"nnnotes\.estimators\.entropy\(counts\.reshape\(-1\)"): joint_entropy(c)
    with pytest.raises(ValueError, match=r"q: must sum to 1.*nnnotes\.estimators"): kl_divergence([0.5, 0.5], [1, 3])
    with pytest.raises(ValueError) as e: entropy([0.5, 0.6])  # not whole numbers: no hint
    assert "estimators" not in str(e.value)


# ---------------------------------------------------------------- benchmark smoke test

def test_bench_rows_have_stable_keys(monkeypatch):
    "The benchmark builds its rows; timing replaced by one call of each side (a benchmark is not a timed test)."
    import nnnotes.checks.information as ci
    from nnnotes.checks import Timing
    calls = []
    def once(ours, ref, device="cpu", **kw):
        calls.append((ours(), ref()))
        return Timing(1.0, 1.0, 0.0)
    monkeypatch.setattr(ci, "time_pair", once)
    rows = ci._bench_information(quick=True)
    assert [r.key for r in rows] == ["information.entropy.numpy", "information.kl_divergence.numpy",
                                     "information.entropy.torch", "information.kl_divergence.torch"]
    for ours, ref in calls: np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-6)
