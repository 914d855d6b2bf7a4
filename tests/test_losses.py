"""Property tests of `nnnotes.losses` against `torch.nn.functional`: values and gradients for every reduction, option and
shape, float32 and float64, logits up to ±1e4; our subgradient at the kinks; bad input and bad options; kinds and dtypes,
half precision and autocast; torch.compile, torch.func and torch.export; the import test; GPU tests."""
import subprocess, sys
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from nnnotes.losses import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, hinge_embedding_loss,
                            hinge_loss, logistic_loss, multiclass_hinge_loss)

REDUCTIONS = ("mean", "sum", "none")
# ours and the reference sum the same float terms in possibly different orders: in float32 over at most 64 terms
# that differs by a few 1e-6 relative; in float64 by ~1e-14.
TOL = {torch.float32: dict(rtol=1e-5, atol=1e-6), torch.float64: dict(rtol=1e-12, atol=1e-12)}
SETTINGS = settings(max_examples=40, deadline=None)

# ---------------------------------------------------------------- references and helpers
def _hinge_ref(x, y, reduction="mean"):
    "The binary hinge as 2·F.multi_margin_loss on scores (0, ŷ), class (y + 1)/2 (PyTorch's subgradient at the kink)."
    s = torch.stack([torch.zeros_like(x), x], -1).reshape(-1, 2)
    l = 2 * F.multi_margin_loss(s, ((y.reshape(-1) + 1) / 2).long(), reduction=reduction)
    return l.reshape(x.shape) if reduction == "none" else l

def _logistic_ref(x, y, reduction="mean"):
    "The logistic loss as PyTorch's stable BCE with logits (F.soft_margin_loss overflows beyond y·ŷ < −88 in float32)."
    return F.binary_cross_entropy_with_logits(x, (1 + y) / 2, reduction=reduction)

def _run(f, inputs, reduction, grad):
    "Value of `f(*inputs, reduction)` and its gradients wrt inputs[i] for i in `grad`, of a weighted sum."
    xs = [v.detach().clone().requires_grad_(i in grad) for i, v in enumerate(inputs)]
    out = f(*xs, reduction=reduction)
    w = torch.linspace(0.5, 1.5, out.numel(), dtype=out.dtype, device=out.device).reshape(out.shape)
    return (out.detach(), *torch.autograd.grad((out * w).sum(), [xs[i] for i in grad]))

def assert_matches(ours, ref, inputs, reduction, grad=(0,), tol=None, skip=None):
    """Values and gradients of `ours` equal those of `ref` (same dtype and device); `skip`: entries of inputs[0] at a kink,
    where each library picks its own subgradient (ours is tested on its own), left out of the gradient comparison."""
    tol = tol or TOL[inputs[0].dtype]
    for i, (a, b) in enumerate(zip(_run(ours, inputs, reduction, grad), _run(ref, inputs, reduction, grad), strict=True)):
        if i == 1 and grad[0] == 0 and skip is not None: a, b = a[~skip], b[~skip]
        torch.testing.assert_close(a, b, **tol)

# ---------------------------------------------------------------- strategies
dtypes = st.sampled_from([torch.float32, torch.float64])
reductions = st.sampled_from(REDUCTIONS)
shapes = st.tuples(st.integers(1, 8), st.integers(1, 8))
# float32-representable logits up to ±1e4, with the hinge's kinks ±1 and 0 drawn often
logit = st.one_of(st.floats(-1e4, 1e4, width=32), st.sampled_from([-1.0, 1.0, 0.0]))
label = st.sampled_from([-1.0, 1.0])

@st.composite
def binary_case(draw, elements=logit):
    shape, dtype = draw(shapes), draw(dtypes)
    x = draw(arrays(np.float64, shape, elements=elements))
    y = draw(arrays(np.float64, shape, elements=label))
    return torch.tensor(x, dtype=dtype), torch.tensor(y, dtype=dtype)

@st.composite
def class_case(draw, kink_margin=None):
    (n, c), dtype = draw(st.tuples(st.integers(1, 8), st.integers(2, 8))), draw(dtypes)
    x = torch.tensor(draw(arrays(np.float64, (n, c), elements=logit)), dtype=dtype)
    t = torch.tensor(draw(arrays(np.int64, n, elements=st.integers(0, c - 1))))
    if kink_margin is not None and draw(st.booleans()):  # a wrong class exactly on the margin
        x[0, (t[0] + 1) % c] = x[0, t[0]] - kink_margin
    return x, t

# ---------------------------------------------------------------- against torch.nn.functional
@SETTINGS
@given(binary_case(), reductions)
def test_hinge_loss_matches_torch(case, reduction):
    x, y = case
    assert_matches(hinge_loss, _hinge_ref, case, reduction, skip=(x * y == 1))

def test_hinge_kink_gradient_is_ours():
    "Our documented choice: 0 at the kink y·ŷ = 1, on every torch."
    x = torch.tensor([1.0, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    hinge_loss(x, torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64), reduction="sum").backward()
    assert x.grad.tolist() == [0.0, 0.0, -1.0]

@pytest.mark.parametrize("p", [1, 2])
def test_multiclass_and_embedding_kink_gradients_are_ours(p):
    s = torch.tensor([[2.0, 1.0, -3.0]], dtype=torch.float64, requires_grad=True)  # class 1 exactly on the margin
    multiclass_hinge_loss(s, torch.tensor([0]), p=p).backward()
    assert s.grad.tolist() == [[0.0, 0.0, 0.0]]
    d = torch.tensor([1.0, 2.0, 1.5], dtype=torch.float64, requires_grad=True)
    hinge_embedding_loss(d, torch.tensor([-1.0, -1.0, -1.0]), margin=1.5, reduction="sum").backward()
    assert d.grad.tolist() == [-1.0, 0.0, 0.0]

@SETTINGS
@given(st.data(), reductions, st.sampled_from([0.5, 1.0, 2.0]))
def test_multiclass_hinge_loss_is_c_times_multi_margin_loss(data, reduction, margin):
    x, t = data.draw(class_case(kink_margin=margin))
    p = data.draw(st.sampled_from([1, 2]))
    w = data.draw(st.none() | st.just(torch.linspace(0.5, 2.0, x.shape[1], dtype=x.dtype)))
    ours = lambda x, t, reduction: multiclass_hinge_loss(x, t, p, margin, w, reduction)
    ref = lambda x, t, reduction: x.shape[1] * F.multi_margin_loss(x, t, p, margin, w, reduction=reduction)
    kink = (margin - x.gather(1, t[:, None]) + x == 0).scatter(1, t[:, None], False).any(1, keepdim=True)
    assert_matches(ours, ref, [x, t], reduction, skip=kink.expand_as(x) if p == 1 else None)

@SETTINGS
@given(binary_case(), reductions, st.sampled_from([0.5, 1.0, 3.0]))
def test_hinge_embedding_loss_matches_torch(case, reduction, margin):
    x, y = case
    x[0] = margin  # a kink: PyTorch's gradient there is −1 up to torch 2.13, 0 from 2.14; ours 0
    ours = lambda x, y, reduction: hinge_embedding_loss(x, y, margin, reduction)
    ref = lambda x, y, reduction: F.hinge_embedding_loss(x, y, margin, reduction=reduction)
    assert_matches(ours, ref, [x, y], reduction, skip=(x == margin) & (y == -1))

prob = st.one_of(st.floats(0, 1, width=32), st.sampled_from([0.0, 1.0]))

@SETTINGS
@given(shapes, dtypes, reductions, st.data())
def test_binary_cross_entropy_matches_torch(shape, dtype, reduction, data):
    x = torch.tensor(data.draw(arrays(np.float64, shape, elements=prob)), dtype=dtype)
    y = torch.tensor(data.draw(arrays(np.float64, shape, elements=prob)), dtype=dtype)
    assert_matches(binary_cross_entropy, F.binary_cross_entropy, [x, y], reduction, grad=(0, 1))

def test_binary_cross_entropy_at_0_and_1():
    x = torch.tensor([0.0, 1.0, 0.0, 1.0], dtype=torch.float64)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    assert binary_cross_entropy(x, y, reduction="none").tolist() == [100.0, 100.0, 0.0, 0.0]
    assert_matches(binary_cross_entropy, F.binary_cross_entropy, [x, y], "sum", grad=(0, 1))

@SETTINGS
@given(st.data(), reductions)
def test_cross_entropy_indices_match_torch(data, reduction):
    assert_matches(cross_entropy, F.cross_entropy, list(data.draw(class_case())), reduction)

@SETTINGS
@given(st.data(), reductions)
def test_cross_entropy_probabilities_match_torch(data, reduction):
    x, _ = data.draw(class_case())
    w = torch.tensor(data.draw(arrays(np.float64, tuple(x.shape), elements=st.floats(0, 1))), dtype=torch.float64) + 1e-3
    p = (w / w.sum(-1, keepdim=True)).to(x.dtype)
    assert_matches(cross_entropy, F.cross_entropy, [x, p], reduction, grad=(0, 1))

@st.composite
def ce_case(draw, soft=None):
    """Logits of every shape F.cross_entropy takes: unbatched (C,) or (N, C, d1, ..., dK), N in 0..4, C in 1..5, K in 0..2
    (each d in 0..3), with class indices (input's shape without axis 1, a scalar unbatched) or probabilities along the class axis."""
    c, dtype = draw(st.integers(1, 5)), draw(dtypes)
    if draw(st.booleans()) and draw(st.booleans()): shape, axis = (c,), 0
    else: shape, axis = (draw(st.integers(0, 4)), c, *draw(st.lists(st.integers(0, 3), max_size=2))), 1
    x = torch.tensor(draw(arrays(np.float64, shape, elements=logit)), dtype=dtype)
    if draw(st.booleans()) if soft is None else soft:
        w = torch.tensor(draw(arrays(np.float64, shape, elements=st.floats(0, 1))), dtype=torch.float64) + 1e-3
        return x, (w / w.sum(axis, keepdim=True)).to(dtype)
    return x, torch.tensor(draw(arrays(np.int64, shape[:axis] + shape[axis + 1:], elements=st.integers(0, c - 1))))

@settings(max_examples=150, deadline=None)
@given(ce_case(), reductions)
def test_cross_entropy_every_shape_matches_torch(case, reduction):
    "Unbatched and K-dimensional inputs, indices and probabilities: values (NaN for the mean of nothing, as torch), output shape, gradients."
    x, t = case
    grad = (0,) if not t.is_floating_point() else (0, 1)
    assert cross_entropy(x, t, reduction=reduction).shape == F.cross_entropy(x, t, reduction=reduction).shape
    assert_matches(cross_entropy, F.cross_entropy, [x, t], reduction, grad, tol=dict(**TOL[x.dtype], equal_nan=True))

@SETTINGS
@given(ce_case(), reductions)
def test_cross_entropy_every_shape_numpy_equals_torch(case, reduction):
    "The NumPy path gives the torch path's values, in the input's dtype, without warnings (the mean of no sample too: NaN)."
    import warnings
    x, t = case
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = cross_entropy(x.numpy(), t.numpy(), reduction=reduction)
    ref = cross_entropy(x, t, reduction=reduction).numpy()
    assert np.asarray(out).dtype == ref.dtype and np.shape(out) == ref.shape
    np.testing.assert_allclose(out, ref, **({"rtol": 1e-14, "atol": 1e-14} if x.dtype == torch.float64 else {"rtol": 1e-6, "atol": 1e-6}))

@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 2), (0, 3, 2)], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("soft", [False, True], ids=["indices", "probabilities"])
def test_cross_entropy_shapes_parametrized(shape, dtype, soft):
    g = torch.Generator().manual_seed(sum(shape) + soft)
    axis, c = min(len(shape) - 1, 1), shape[min(len(shape) - 1, 1)]
    x = torch.randn(shape, generator=g, dtype=torch.float64).mul(10).to(dtype)
    t = (torch.softmax(torch.randn(shape, generator=g, dtype=torch.float64), axis).to(dtype) if soft
         else torch.randint(0, c, shape[:axis] + shape[axis + 1:], generator=g))
    for r in REDUCTIONS:
        out = cross_entropy(x, t, reduction=r)
        assert out.dtype == dtype and out.shape == (shape[:axis] + shape[axis + 1:] if r == "none" else ())
        assert_matches(cross_entropy, F.cross_entropy, [x, t], r, (0, 1) if soft else (0,), tol=dict(**TOL[dtype], equal_nan=True))

def test_cross_entropy_k_dim_is_the_2d_loss_per_position():
    "Classes on axis 1: (N, C, d1, d2) is the (N·d1·d2, C) loss with the class axis moved last (to rounding: the kernels sum in other orders)."
    g = torch.Generator().manual_seed(1)
    x, t = torch.randn(3, 4, 2, 5, generator=g, dtype=torch.float64), torch.randint(0, 4, (3, 2, 5), generator=g)
    flat = cross_entropy(x.movedim(1, -1).reshape(-1, 4), t.reshape(-1), reduction="none").reshape(3, 2, 5)
    torch.testing.assert_close(cross_entropy(x, t, reduction="none"), flat, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(cross_entropy(x[0, :, 0, 0], t[0, 0, 0], reduction="none"), flat[0, 0, 0], rtol=1e-15, atol=1e-15)

@SETTINGS
@given(binary_case(), reductions)
def test_logistic_loss_matches_bce_with_logits_up_to_1e4(case, reduction):
    assert_matches(logistic_loss, _logistic_ref, case, reduction)

@SETTINGS
@given(binary_case(elements=st.floats(-80, 80, width=32)), reductions)
def test_logistic_loss_matches_soft_margin_loss(case, reduction):
    assert_matches(logistic_loss, F.soft_margin_loss, case, reduction)

def test_logistic_loss_is_finite_where_soft_margin_loss_overflows():
    x = torch.tensor([-1e4, -100.0, 1e4], requires_grad=True)
    y = torch.ones(3)
    assert torch.isinf(F.soft_margin_loss(x, y, reduction="none")[:2]).all()
    l = logistic_loss(x, y, reduction="none")
    torch.testing.assert_close(l, torch.tensor([1e4, 100.0, 0.0]), rtol=1e-7, atol=0)
    l.sum().backward()
    torch.testing.assert_close(x.grad, torch.tensor([-1.0, -1.0, 0.0]), rtol=0, atol=0)

# ---------------------------------------------------------------- NumPy and torch agree; kinds and dtypes
@SETTINGS
@given(binary_case(), reductions)
def test_numpy_path_equals_torch_path(case, reduction):
    x, y = (v.double() for v in case)
    p = torch.sigmoid(x / 1e3)
    for f, a, b in ((hinge_loss, x, y), (hinge_embedding_loss, x, y), (logistic_loss, x, y), (binary_cross_entropy, p, (1 + y) / 2)):
        np.testing.assert_allclose(f(a.numpy(), b.numpy(), reduction=reduction), f(a, b, reduction=reduction).numpy(), rtol=1e-14, atol=1e-14)
    c = x.reshape(x.shape[0], -1)
    t = torch.arange(c.shape[0]) % c.shape[1]
    for f in (cross_entropy, multiclass_hinge_loss):
        np.testing.assert_allclose(f(c.numpy(), t.numpy(), reduction=reduction), f(c, t, reduction=reduction).numpy(), rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(x.numpy(), p.numpy(), reduction=reduction),
                               binary_cross_entropy_with_logits(x, p, reduction=reduction).numpy(), rtol=1e-14, atol=1e-14)

ALL = [(hinge_loss, "pm1"), (hinge_embedding_loss, "pm1"), (logistic_loss, "pm1"), (binary_cross_entropy, "prob"),
       (binary_cross_entropy_with_logits, "prob"), (cross_entropy, "class"), (multiclass_hinge_loss, "class")]

def _inputs(kind, lib, dtype, device="cpu"):
    x = np.array([[0.2, 0.9, 0.4], [0.6, 0.1, 0.5]])
    t = {"pm1": np.array([[1.0, -1, 1], [-1, 1, 1]]), "prob": np.array([[1.0, 0, 0.5], [0, 1, 1]]), "class": np.array([2, 0])}[kind]
    if lib == "numpy": return x.astype(dtype), t
    return torch.tensor(x, dtype=dtype, device=device), torch.tensor(t, device=device)

@pytest.mark.parametrize("f,kind", ALL, ids=[f.__name__ for f, _ in ALL])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_in_numpy_out(f, kind, dtype):
    x, t = _inputs(kind, "numpy", dtype)
    for r in REDUCTIONS:
        out = np.asarray(f(x, t, reduction=r))
        assert isinstance(f(x, t, reduction=r), (np.ndarray, np.generic)) and out.dtype == dtype and np.isfinite(out).all()

@pytest.mark.parametrize("f,kind", ALL, ids=[f.__name__ for f, _ in ALL])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_torch_keeps_dtype(f, kind, dtype):
    x, t = _inputs(kind, "torch", dtype)
    x.requires_grad_()
    out = f(x, t, reduction="sum")
    assert out.dtype == dtype and torch.isfinite(out)
    out.backward()
    assert x.grad.dtype == dtype and torch.isfinite(x.grad).all()
    ref = f(x.detach().double(), t.double() if t.is_floating_point() else t, reduction="sum")
    torch.testing.assert_close(out.double(), ref, rtol=2 * torch.finfo(dtype).eps * 6, atol=0)  # 6 terms rounded to `dtype`

def test_no_warnings_at_extremes():
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(logistic_loss(np.array([-1e4, 1e4]), [1, 1], reduction="none"), [1e4, 0.0], rtol=1e-15, atol=0)
        np.testing.assert_allclose(cross_entropy(np.array([[1e4, -1e4]]), [1]), 2e4, rtol=1e-15)
        np.testing.assert_allclose(binary_cross_entropy(np.array([0.0, 1.0]), [1.0, 0.0], reduction="none"), [100.0, 100.0], rtol=0)

# ---------------------------------------------------------------- bad input
BAD = [
    (lambda: hinge_loss([1.0, 2.0], [1, 0]), ValueError, "target: entries must be in {-1, 1}"),
    (lambda: logistic_loss(torch.ones(2), torch.tensor([1.0, 0.5])), ValueError, "target: entries must be in {-1, 1}"),
    (lambda: hinge_embedding_loss([1.0], [2]), ValueError, "target: entries must be in {-1, 1}"),
    (lambda: hinge_loss([1.0, 2.0], [1, 1, 1]), ValueError, "input and target: shapes differ"),
    (lambda: logistic_loss(np.ones((2, 2)), np.ones(2)), ValueError, "input and target: shapes differ"),
    (lambda: binary_cross_entropy([0.5], [1, 0]), ValueError, "input and target: shapes differ"),
    (lambda: hinge_loss([1.0], [1], reduction="avg"), ValueError, "reduction: must be one of 'mean', 'sum', 'none'"),
    (lambda: cross_entropy(np.ones((1, 2)), [0], reduction=None), ValueError, "reduction: must be one of"),
    (lambda: binary_cross_entropy([1.5], [1.0]), ValueError, "input: must lie in [0, 1]"),
    (lambda: binary_cross_entropy(torch.tensor([-0.1]), torch.tensor([1.0])), ValueError, "input: must lie in [0, 1]"),
    (lambda: binary_cross_entropy([0.5], [2.0]), ValueError, "target: must lie in [0, 1]"),
    (lambda: binary_cross_entropy([float("nan")], [1.0]), ValueError, "input: has NaN"),
    (lambda: cross_entropy(np.ones((2, 3)), [0, 3]), IndexError, "target: class indices must lie in [0, 2]"),
    (lambda: cross_entropy(torch.ones(2, 3), torch.tensor([-1, 0])), IndexError, "target: class indices must lie in [0, 2]"),
    (lambda: multiclass_hinge_loss(torch.ones(2, 3), torch.tensor([0, 5])), IndexError, "target: class indices must lie in [0, 2]"),
    (lambda: cross_entropy(np.ones((2, 3)), [0.0, 1.0]), ValueError, "target: expected class indices of shape (2,) and an integer dtype"),
    (lambda: cross_entropy(np.ones((2, 3)), [0, 1, 2]), ValueError, "target: expected class indices of shape (2,)"),
    (lambda: cross_entropy(np.ones(3), [0]), ValueError, "target: expected class indices of shape () and an integer dtype"),
    (lambda: cross_entropy(np.ones(3), 3), IndexError, "target: class indices must lie in [0, 2] or equal ignore_index = -100; got values from 3 to 3"),
    (lambda: cross_entropy(torch.ones(3), torch.tensor(-1)), IndexError, "target: class indices must lie in [0, 2]"),
    (lambda: cross_entropy(np.ones(3), [0.5, 0.6, 0.0]), ValueError, "target: must sum to 1"),
    (lambda: cross_entropy(np.float64(1.0), 0), ValueError, "input: expected logits of shape (C,), (N, C) or (N, C, d1, ..., dK); got a scalar"),
    (lambda: cross_entropy(np.ones((2, 3, 4)), np.zeros((2, 3), int)), ValueError, "target: expected class indices of shape (2, 4)"),
    (lambda: cross_entropy(torch.ones(2, 3, 4), torch.zeros(2, 4)), ValueError, "target: expected class indices of shape (2, 4) and an integer dtype"),
    (lambda: cross_entropy(torch.ones(2, 3, 4, 1), torch.full((2, 4, 1), 3)), IndexError, "target: class indices must lie in [0, 2]"),
    (lambda: cross_entropy(np.ones((1, 2, 2)), [[[0.2, 0.8], [0.6, 0.4]]]), ValueError, "target: must sum to 1 (tolerance 1.5e-08) along axis 1"),
    (lambda: cross_entropy(np.ones((1, 2, 2)), [[[1.5, 0.5], [-0.5, 0.5]]]), ValueError, "target: must lie in [0, 1]"),
    (lambda: cross_entropy(torch.ones(2, 3, 4), torch.ones(2, 3, 4, dtype=torch.long)), ValueError, "target: expected class indices of shape (2, 4)"),
    (lambda: multiclass_hinge_loss(np.ones((2, 3, 1)), [0, 1]), ValueError, "input: expected scores of shape (N, C)"),
    (lambda: cross_entropy(np.ones((1, 2)), [[0.7, 0.7]]), ValueError, "target: must sum to 1"),
    (lambda: cross_entropy(np.ones((1, 2)), [[1.5, -0.5]]), ValueError, "target: must lie in [0, 1]"),
    (lambda: hinge_loss(np.ones(2), torch.ones(2)), TypeError, "target: a torch tensor, but input is a NumPy array"),
    (lambda: hinge_loss("ab", [1, 1]), TypeError, "input: expected a real number"),
    (lambda: hinge_loss(None, [1]), TypeError, "input: expected a real number"),
]

@pytest.mark.parametrize("call,exc,msg", BAD, ids=[b[2][:40] + f" #{i}" for i, b in enumerate(BAD)])
def test_bad_input_raises(call, exc, msg):
    with pytest.raises(exc) as e: call()
    assert msg in str(e.value)

# ---------------------------------------------------------------- margins and other options: one finite real number, as PyTorch
MARGIN_LOSSES = [
    ("multiclass_hinge_loss", lambda margin, x=np.array([[2.0, 0.5, -1.0]]): multiclass_hinge_loss(x, [0], margin=margin)),
    ("multiclass_hinge_loss torch", lambda margin: multiclass_hinge_loss(torch.ones(2, 3), torch.tensor([0, 1]), margin=margin)),
    ("hinge_embedding_loss", lambda margin: hinge_embedding_loss([0.5, 2.0], [-1, 1], margin=margin)),
    ("hinge_embedding_loss torch", lambda margin: hinge_embedding_loss(torch.ones(2), torch.tensor([1.0, -1.0]), margin=margin)),
]
BAD_MARGINS = [(float("nan"), ValueError, "margin: has NaN"), (float("inf"), ValueError, "margin: must be finite"),
               (-float("inf"), ValueError, "margin: must be finite"), (None, TypeError, "margin: expected a real number"),
               ("1.0", TypeError, "margin: expected a real number"), (True, TypeError, "margin: expected a real number"),
               (1 + 0j, TypeError, "margin: expected a real number"), (np.array([1.0, 2.0]), ValueError, "margin: must be a single number"),
               (torch.tensor(float("nan")), ValueError, "margin: has NaN")]

@pytest.mark.parametrize("name,f", MARGIN_LOSSES, ids=[m[0] for m in MARGIN_LOSSES])
@pytest.mark.parametrize("bad,exc,msg", BAD_MARGINS, ids=[repr(b[0]) for b in BAD_MARGINS])
def test_bad_margin_raises(name, f, bad, exc, msg):
    "PyTorch returns NaN (hinge embedding) or 0 (multi_margin_loss) for a NaN margin; ours raises, naming the argument."
    with pytest.raises(exc) as e: f(bad)
    assert msg in str(e.value)

@pytest.mark.parametrize("margin", [-1.5, -0.25, 0, 2, np.float32(0.75), torch.tensor(1.25, dtype=torch.float64)])
def test_margins_torch_allows_match_torch(margin):
    "Negative and zero margins are allowed, as in PyTorch; NumPy and 0-d tensor margins too, with the same result as a float."
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randint(0, 4, (6,), generator=g)
    d, y = torch.randn(7, generator=g, dtype=torch.float64).abs(), torch.randint(0, 2, (7,), generator=g).double() * 2 - 1
    m = float(margin)
    for r in REDUCTIONS:
        assert_matches(lambda x, t, reduction: multiclass_hinge_loss(x, t, margin=margin, reduction=reduction),
                       lambda x, t, reduction: 4 * F.multi_margin_loss(x, t, margin=m, reduction=reduction), [x, t], r)
        assert_matches(lambda x, y, reduction: hinge_embedding_loss(x, y, margin=margin, reduction=reduction),
                       lambda x, y, reduction: F.hinge_embedding_loss(x, y, margin=m, reduction=reduction), [d, y], r)

def test_numpy_margin_keeps_the_input_dtype():
    "A NumPy float64 margin must not turn float32 NumPy losses into float64 (NumPy 2 promotes with NumPy scalars)."
    x = np.float32([[2.0, 0.5, -1.0], [0.0, 0.3, 0.2]])
    assert multiclass_hinge_loss(x, [0, 1], margin=np.float64(1.0), reduction="none").dtype == np.float32
    assert hinge_embedding_loss(np.float32([0.5, 2.0]), [-1, 1], margin=np.float64(1.0), reduction="none").dtype == np.float32

@pytest.mark.parametrize("bad", [np.array(["mean", "sum"]), ["mean"], 0, b"mean"])
def test_reduction_must_be_a_string(bad):
    for f, args in ((hinge_loss, ([1.0], [1])), (cross_entropy, (np.ones((1, 2)), [0])), (binary_cross_entropy, ([0.5], [1.0]))):
        with pytest.raises(ValueError, match="^reduction: must be one of"): f(*args, reduction=bad)

# ---------------------------------------------------------------- importing does not import torch, SymPy or matplotlib
def test_import_is_light():
    code = "import nnnotes.losses, sys; bad = [m for m in ('torch', 'sympy', 'matplotlib') if m in sys.modules]; assert not bad, bad"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

# ---------------------------------------------------------------- GPU
GPU_CASES = [
    ("hinge_loss", hinge_loss, _hinge_ref, "pm1", (0,)),
    ("logistic_loss", logistic_loss, _logistic_ref, "pm1", (0,)),
    ("logistic_loss vs soft_margin_loss", logistic_loss, F.soft_margin_loss, "pm1", (0,)),
    ("hinge_embedding_loss", hinge_embedding_loss, F.hinge_embedding_loss, "pm1", (0,)),
    ("binary_cross_entropy", binary_cross_entropy, F.binary_cross_entropy, "prob", (0, 1)),
    ("cross_entropy", cross_entropy, F.cross_entropy, "class", (0,)),
    ("cross_entropy, probabilities", cross_entropy, F.cross_entropy, "soft", (0, 1)),
    ("multiclass_hinge_loss", multiclass_hinge_loss, lambda x, t, reduction: x.shape[1] * F.multi_margin_loss(x, t, reduction=reduction), "class", (0,)),
]

def _gpu_inputs(kind, dtype, n=64, c=10):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, c, generator=g, dtype=torch.float64) * 5
    if kind == "pm1": t = torch.randint(0, 2, (n, c), generator=g).double() * 2 - 1  # off the kinks (tested apart)
    elif kind == "prob": x, t = torch.rand(n, c, generator=g, dtype=torch.float64), torch.rand(n, c, generator=g, dtype=torch.float64); x[0, :2] = torch.tensor([0.0, 1.0])
    elif kind == "soft": t = torch.softmax(torch.randn(n, c, generator=g, dtype=torch.float64), -1)
    else: t = torch.randint(0, c, (n,), generator=g)
    return [x.to("cuda", dtype), t.to("cuda", dtype) if t.is_floating_point() else t.to("cuda")]

@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name,ours,ref,kind,grad", GPU_CASES, ids=[c[0] for c in GPU_CASES])
def test_gpu_matches_torch(name, ours, ref, kind, grad, dtype):
    inputs = _gpu_inputs(kind, dtype)
    for r in REDUCTIONS:
        out = ours(*inputs, reduction=r)
        assert out.device.type == "cuda" and out.dtype == dtype
        assert_matches(ours, ref, inputs, r, grad)

@pytest.mark.gpu
def test_gpu_extremes_and_errors():
    x = torch.tensor([-1e4, 1e4], device="cuda", requires_grad=True)
    l = logistic_loss(x, torch.ones(2, device="cuda"), reduction="none")
    torch.testing.assert_close(l, torch.tensor([1e4, 0.0], device="cuda"), rtol=1e-7, atol=0)
    l.sum().backward()
    assert torch.isfinite(x.grad).all()
    with pytest.raises(IndexError, match="target: class indices must lie in"):
        cross_entropy(torch.zeros(2, 3, device="cuda"), torch.tensor([0, 3], device="cuda"))
    with pytest.raises(ValueError, match="target: entries must be in"):
        hinge_loss(torch.zeros(2, device="cuda"), torch.tensor([1.0, 0.0], device="cuda"))

# ---------------------------------------------------------------- gradcheck: first and second derivatives by finite differences
def test_gradcheck_and_gradgradcheck():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(4, 3, generator=g, dtype=torch.float64) * 4 - 2).requires_grad_()  # away from the kinks (margins ≠ 1)
    x = torch.where((x.detach() - 1).abs() < 0.05, x + 0.1, x).detach().requires_grad_()
    y = torch.tensor([[1.0, -1, 1], [-1, -1, 1], [1, 1, -1], [-1, 1, 1]], dtype=torch.float64)
    p = (torch.rand(4, 3, generator=g, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    q = torch.rand(4, 3, generator=g, dtype=torch.float64).requires_grad_()
    t = torch.tensor([0, 2, 1, 1])
    xk = torch.rand(2, 3, 2, generator=g, dtype=torch.float64).requires_grad_()
    pk = torch.softmax(torch.randn(2, 3, 2, generator=g, dtype=torch.float64), 1)  # fixed: a perturbed one would not sum to 1
    w3 = torch.tensor([0.5, 2.0, 1.0], dtype=torch.float64)
    cases = [(lambda x: hinge_loss(x, y), x), (lambda x: logistic_loss(x, y), x), (lambda x: hinge_embedding_loss(x.abs() + 0.1, y, 2.0), x),
             (lambda x: cross_entropy(x, t), x), (lambda x: multiclass_hinge_loss(x, t, margin=0.7), x),
             (lambda x: multiclass_hinge_loss(x, t, p=2, weight=w3), x),
             (lambda x: cross_entropy(x, torch.tensor([0, -100, 1, 2]), weight=w3, label_smoothing=0.2), x),
             (lambda x, q: binary_cross_entropy_with_logits(x, q, weight=w3, pos_weight=w3), (x, q)),
             (lambda p, q: binary_cross_entropy(p, q, weight=w3), (p, q)),
             (lambda x: cross_entropy(x, torch.tensor([[0, 2], [1, 1]])), xk), (lambda x: cross_entropy(x, pk), xk),
             (lambda x: cross_entropy(x[0, :, 0], torch.tensor(1)), xk),
             (lambda p, q: binary_cross_entropy(p, q), (p, q))]
    for f, inputs in cases:
        assert torch.autograd.gradcheck(f, inputs)
        assert torch.autograd.gradgradcheck(f, inputs)

# ---------------------------------------------------------------- options: weight, ignore_index, label_smoothing, pos_weight, p
F64 = dict(rtol=1e-10, atol=1e-10)

@st.composite
def ce_options_case(draw):
    "`ce_case` in float64 with a class weight (or none), label smoothing, and ignored targets (-100 or a class index)."
    x, t = draw(ce_case())
    x = x.double()
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    w = draw(st.none() | arrays(np.float64, c, elements=st.floats(0.1, 3.0)).map(torch.tensor))
    kw = dict(weight=w, label_smoothing=draw(st.sampled_from([0.0, 0.1, 0.37, 1.0])))
    if t.is_floating_point():
        t = t.double()
        return x, t / t.sum(0 if x.ndim == 1 else 1, keepdim=True), kw  # a distribution in float64
    ignore = draw(st.sampled_from([-100, -1, 0, c - 1]))
    mask = torch.tensor(draw(arrays(np.bool_, tuple(t.shape))))
    t = torch.where(mask, ignore, t)
    if ignore != -100: kw["ignore_index"] = ignore
    return x, t, kw

@settings(max_examples=120, deadline=None)
@given(ce_options_case(), reductions)
def test_cross_entropy_options_match_torch(case, reduction):
    "Every shape and target kind with weight, ignore_index and label smoothing: values and gradients to 1e-10 in float64."
    x, t, kw = case
    grad = (0, 1) if t.is_floating_point() else (0,)
    ours = lambda x, t, reduction: cross_entropy(x, t, reduction=reduction, **kw)
    ref = lambda x, t, reduction: F.cross_entropy(x, t, reduction=reduction, **kw)
    assert_matches(ours, ref, [x, t], reduction, grad, tol=dict(**F64, equal_nan=True))

def test_cross_entropy_every_target_ignored_is_nan_as_torch():
    x = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    for kw in (dict(), dict(weight=torch.rand(4, dtype=torch.float64)), dict(label_smoothing=0.3)):
        for t, ii in ((torch.full((3,), -100), -100), (torch.full((3,), 2), 2)):
            ours, ref = cross_entropy(x, t, ignore_index=ii, **kw), F.cross_entropy(x, t, ignore_index=ii, **kw)
            assert torch.isnan(ours) and torch.isnan(ref)
            g_ours, = torch.autograd.grad(ours, x); g_ref, = torch.autograd.grad(ref, x)
            torch.testing.assert_close(g_ours, g_ref)  # zeros, as torch
            assert cross_entropy(x, t, ignore_index=ii, reduction="sum", **kw).item() == 0
    assert np.isnan(cross_entropy(np.zeros((2, 3)), [-100, -100]))

@SETTINGS
@given(shapes, dtypes, reductions, st.data())
def test_binary_cross_entropy_weight_matches_torch(shape, dtype, reduction, data):
    x = torch.tensor(data.draw(arrays(np.float64, shape, elements=prob)), dtype=dtype)
    y = torch.tensor(data.draw(arrays(np.float64, shape, elements=prob)), dtype=dtype)
    wshape = data.draw(st.sampled_from([shape, shape[1:], (1, shape[1]), (shape[0], 1)]))
    w = torch.tensor(data.draw(arrays(np.float64, wshape, elements=st.floats(0, 3))), dtype=dtype)
    ours = lambda x, y, reduction: binary_cross_entropy(x, y, w, reduction)
    ref = lambda x, y, reduction: F.binary_cross_entropy(x, y, w, reduction=reduction)
    assert_matches(ours, ref, [x, y], reduction, grad=(0, 1), tol=dict(**TOL[dtype], equal_nan=True))  # 0·∞ at ŷ = 0, w = 0

@settings(max_examples=80, deadline=None)
@given(shapes, dtypes, reductions, st.data())
def test_binary_cross_entropy_with_logits_matches_torch(shape, dtype, reduction, data):
    "Logits up to ±1e4, soft targets, weight and pos_weight (one per class along the last axis, or any broadcast shape)."
    x = torch.tensor(data.draw(arrays(np.float64, shape, elements=logit)), dtype=dtype)
    y = torch.tensor(data.draw(arrays(np.float64, shape, elements=prob)), dtype=dtype)
    def opt(): 
        s = data.draw(st.sampled_from([shape, shape[1:], (shape[0], 1), ()]))
        return data.draw(st.none() | arrays(np.float64, s, elements=st.floats(0, 3)).map(lambda a: torch.tensor(a, dtype=dtype)))
    w, pw = opt(), opt()
    ours = lambda x, y, reduction: binary_cross_entropy_with_logits(x, y, w, pw, reduction)
    def ref(x, y, reduction):
        "PyTorch's (1 − y)·z + (1 + (p − 1)·y)·softplus(−z) cancels at large |z|: in float32, take it in float64."
        d = lambda v: None if v is None else v.double()
        return F.binary_cross_entropy_with_logits(d(x), d(y), d(w), reduction=reduction, pos_weight=d(pw)).to(dtype)
    tol = F64 if dtype == torch.float64 else TOL[dtype]
    assert_matches(ours, ref, [x, y], reduction, grad=(0, 1), tol=tol)

@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("pos_weight", [None, 0.5, 3.0])
def test_binary_cross_entropy_with_logits_exact_at_1e4(dtype, pos_weight):
    "At |z| = 1e4 the e^(−|z|) terms vanish: the loss is (1 − y)·max(z, 0) + p·y·max(−z, 0), the gradient (1 − y)·[z > 0] − p·y·[z < 0]."
    z = torch.tensor([-1e4, 1e4] * 3, dtype=dtype, requires_grad=True)
    y = torch.tensor([0.0, 0.0, 1.0, 1.0, 0.25, 0.75], dtype=dtype)
    pw = None if pos_weight is None else torch.tensor(pos_weight, dtype=dtype)
    p = 1.0 if pos_weight is None else pos_weight
    l = binary_cross_entropy_with_logits(z, y, pos_weight=pw, reduction="none")
    l.sum().backward()
    zd, yd = z.detach().double(), y.double()
    assert torch.isfinite(l).all() and torch.isfinite(z.grad).all()
    torch.testing.assert_close(l.double(), (1 - yd) * zd.clamp_min(0) + p * yd * (-zd).clamp_min(0), rtol=0, atol=0)
    torch.testing.assert_close(z.grad.double(), (1 - yd) * (zd > 0) - p * yd * (zd < 0), rtol=0, atol=0)

def test_logistic_loss_is_bce_with_logits_of_mapped_labels():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, generator=g, dtype=torch.float64) * 30
    y = torch.randint(0, 2, (50,), generator=g).double() * 2 - 1
    for r in REDUCTIONS:
        assert_matches(logistic_loss, lambda x, y, reduction: binary_cross_entropy_with_logits(x, (1 + y) / 2, reduction=reduction),
                       [x, y], r, tol=dict(rtol=0, atol=0))

@SETTINGS
@given(st.data(), reductions)
def test_multiclass_hinge_unbatched_matches_torch(data, reduction):
    x, t = data.draw(class_case())
    x, t = x.double()[0], t[0]
    p, w = data.draw(st.sampled_from([1, 2])), data.draw(st.none() | st.just(torch.rand(x.shape[0], dtype=torch.float64)))
    ours = lambda x, t, reduction: multiclass_hinge_loss(x, t, p=p, weight=w, reduction=reduction)
    ref = lambda x, t, reduction: x.shape[0] * F.multi_margin_loss(x, t, p=p, weight=w, reduction=reduction)
    kink = ((1 - x[t] + x) == 0).scatter(0, t[None], False).any()
    assert_matches(ours, ref, [x, t], reduction, tol=F64, skip=torch.full_like(x, bool(kink), dtype=torch.bool) if p == 1 else None)

BAD_OPTIONS = [
    (lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=1.5), "label_smoothing: must lie in [0, 1]"),
    (lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), label_smoothing=-0.1), "label_smoothing: must lie in [0, 1]"),
    (lambda: cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing=float("nan")), "label_smoothing: must lie in [0, 1]"),
    (lambda: cross_entropy(np.zeros((2, 3)), [0, 1], label_smoothing="0.1"), "label_smoothing: must be a number"),
    (lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), weight=torch.ones(2)), "weight: expected one weight per class, shape (3,)"),
    (lambda: cross_entropy(torch.zeros(3), torch.tensor(1), weight=torch.ones(3, 1)), "weight: expected one weight per class"),
    (lambda: multiclass_hinge_loss(torch.zeros(2, 3), torch.tensor([0, 1]), weight=torch.ones(4)), "weight: expected one weight per class"),
    (lambda: multiclass_hinge_loss(torch.zeros(2, 3), torch.tensor([0, 1]), p=3), "p: must be 1 or 2; got 3"),
    (lambda: multiclass_hinge_loss(torch.zeros(2, 3), torch.tensor([0, 1]), p=0), "p: must be 1 or 2"),
    (lambda: multiclass_hinge_loss(torch.zeros(2, 3), torch.tensor([0, 1]), p=True), "p: must be 1 or 2"),
    (lambda: binary_cross_entropy_with_logits(torch.zeros(2, 3), torch.zeros(2, 3), pos_weight=torch.tensor([1.0, -1, 1])), "pos_weight: must lie in [0, inf]"),
    (lambda: binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2)), "pos_weight: shape (2,) does not broadcast"),
    (lambda: binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), weight=np.ones((2, 2, 3))), "weight: shape (2, 2, 3) does not broadcast"),
    (lambda: binary_cross_entropy(np.full(3, 0.5), np.ones(3), weight=np.ones(2)), "weight: shape (2,) does not broadcast"),
    (lambda: cross_entropy(torch.zeros(2, 3), torch.softmax(torch.zeros(2, 3), 1), ignore_index=0), "ignore_index: not supported with probability targets"),
    (lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0, 1]), ignore_index=0.5), "ignore_index: expected an integer"),
    (lambda: cross_entropy(torch.zeros(2, 3), torch.tensor([0, 5]), ignore_index=4), "target: class indices must lie in [0, 2] or equal ignore_index = 4"),
]

@pytest.mark.parametrize("call,msg", BAD_OPTIONS, ids=[b[1][:36] + f" #{i}" for i, b in enumerate(BAD_OPTIONS)])
def test_bad_options_raise_value_errors_naming_them(call, msg):
    with pytest.raises((ValueError, TypeError)) as e: call()
    assert msg in str(e.value)

def test_class_index_out_of_range_is_an_index_error_and_a_value_error():
    for exc in (IndexError, ValueError):
        with pytest.raises(exc, match="target: class indices must lie in"): cross_entropy(torch.zeros(2, 3), torch.tensor([0, 3]))

# ---------------------------------------------------------------- inside real PyTorch programs
def _model_cases():
    "(name, loss of a (5, 4) model output and a target, the batch of targets): every loss, with its options."
    g = torch.Generator().manual_seed(0)
    pm = torch.randint(0, 2, (5, 4), generator=g).double() * 2 - 1
    pr, cls = torch.rand(5, 4, generator=g, dtype=torch.float64), torch.tensor([0, 3, 1, 1, 2])
    w = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    return [("hinge_loss", lambda o, y: hinge_loss(o, y), pm),
            ("multiclass_hinge_loss", lambda o, y: multiclass_hinge_loss(o, y, p=2, margin=0.5, weight=w), cls),
            ("hinge_embedding_loss", lambda o, y: hinge_embedding_loss(o.abs(), y, margin=2.0), pm),
            ("binary_cross_entropy", lambda o, y: binary_cross_entropy(o.sigmoid(), y, weight=w), pr),
            ("bce_with_logits", lambda o, y: binary_cross_entropy_with_logits(o, y, weight=w, pos_weight=w), pr),
            ("cross_entropy", lambda o, y: cross_entropy(o, y, weight=w, label_smoothing=0.1), cls),
            ("cross_entropy_ignore", lambda o, y: cross_entropy(o, torch.where(y == 1, -100, y), weight=w), cls),
            ("cross_entropy_soft", lambda o, y: cross_entropy(o, y.softmax(-1), label_smoothing=0.2), pr),
            ("logistic_loss", lambda o, y: logistic_loss(o, y), pm)]
MODEL_CASES = _model_cases()
MODEL_IDS = [c[0] for c in MODEL_CASES]

def _lin():
    torch.manual_seed(0)
    return torch.nn.Linear(6, 4).double()

@pytest.mark.parametrize("name,f,y", MODEL_CASES, ids=MODEL_IDS)
def test_compiles_fullgraph_without_graph_breaks(name, f, y):
    "Each loss on a model's output: one graph (explain), and the compiled values and gradients equal eager ones."
    lin, x = _lin(), torch.randn(5, 6, dtype=torch.float64)
    def step(x, y): return f(lin(x), y)
    explained = torch._dynamo.explain(step)(x, y)
    assert explained.graph_break_count == 0 and explained.graph_count == 1, explained.break_reasons
    compiled = torch.compile(step, backend="aot_eager", fullgraph=True)
    results = []
    for s in (step, compiled):
        out = s(x, y)
        results.append((out, *torch.autograd.grad(out, list(lin.parameters()))))
    for a, b in zip(*results): torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-15)
    torch._dynamo.reset()

def test_inductor_compiles_cross_entropy_with_options():
    "One real inductor compile: cross entropy with every option, values and gradients close to eager."
    x = torch.randn(64, 10, requires_grad=True)
    t = torch.randint(0, 10, (64,)); t[::7] = -100
    w = torch.rand(10) + 0.5
    f = lambda x, t: cross_entropy(x, t, weight=w, label_smoothing=0.1)
    eager, compiled = f(x, t), torch.compile(f, fullgraph=True)(x, t)
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)
    ge, = torch.autograd.grad(eager, x); gc, = torch.autograd.grad(compiled, x)
    torch.testing.assert_close(gc, ge, rtol=1e-5, atol=1e-7)
    torch._dynamo.reset()

@pytest.mark.parametrize("name,f,y", MODEL_CASES, ids=MODEL_IDS)
def test_vmap_grad_gives_per_sample_gradients(name, f, y):
    "vmap(grad(·)) over functional_call: the per-sample gradients equal a loop of per-sample backward passes."
    from torch.func import functional_call, grad, vmap
    lin, x = _lin(), torch.randn(5, 6, dtype=torch.float64)
    params = {k: v.detach() for k, v in lin.named_parameters()}
    per_sample = vmap(grad(lambda p, xi, yi: f(functional_call(lin, p, (xi,)), yi)), in_dims=(None, 0, 0))(params, x, y)
    for i in range(5):
        loop = torch.autograd.grad(f(lin(x[i]), y[i]), list(lin.parameters()))
        for (k, _), g in zip(lin.named_parameters(), loop): torch.testing.assert_close(per_sample[k][i], g, rtol=1e-13, atol=1e-15)

@pytest.mark.parametrize("name,f,y", MODEL_CASES, ids=MODEL_IDS)
def test_torch_export_of_a_model_with_its_loss(name, f, y):
    lin, x = _lin(), torch.randn(5, 6, dtype=torch.float64)
    class WithLoss(torch.nn.Module):
        def __init__(self): super().__init__(); self.lin = lin
        def forward(self, x, y): return f(self.lin(x), y)
    ep = torch.export.export(WithLoss(), (x, y))
    torch.testing.assert_close(ep.module()(x, y), WithLoss()(x, y), rtol=0, atol=0)

def test_value_checks_skip_while_tracing_but_not_in_eager():
    "Out-of-range labels: a ValueError in eager; no error (and no graph break) while compiling, as the data is unknown."
    bad = torch.tensor([1.0, 0.0])
    with pytest.raises(ValueError): hinge_loss(torch.zeros(2), bad)
    f = torch.compile(lambda x, y: hinge_loss(x, y), backend="eager", fullgraph=True)
    assert torch.isfinite(f(torch.zeros(2), bad))
    with pytest.raises(Exception, match="shapes differ"): f(torch.zeros(2), torch.ones(3))  # shapes: checked always
    torch._dynamo.reset()

# ---------------------------------------------------------------- half precision and autocast
def _half_cases():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(16, 5, generator=g) * 4
    pm, pr = torch.randint(0, 2, (16, 5), generator=g).float() * 2 - 1, torch.rand(16, 5, generator=g)
    t = torch.randint(0, 5, (16,), generator=g); t[::5] = -100
    w = torch.rand(5, generator=g) + 0.5
    return [("hinge_loss", lambda v: hinge_loss(v, pm, reduction="none"), F.multi_margin_loss, x),
            ("multiclass_hinge_loss", lambda v: multiclass_hinge_loss(v, t.clamp_min(0), p=2, weight=w, reduction="none"), None, x),
            ("hinge_embedding_loss", lambda v: hinge_embedding_loss(v, pm, reduction="none"),
             lambda v: F.hinge_embedding_loss(v, pm, reduction="none"), x),
            ("binary_cross_entropy", lambda v: binary_cross_entropy(v, pr, weight=w, reduction="none"),
             lambda v: F.binary_cross_entropy(v, pr, weight=w, reduction="none"), x.sigmoid()),
            ("bce_with_logits", lambda v: binary_cross_entropy_with_logits(v, pr, pos_weight=w, reduction="none"),
             lambda v: F.binary_cross_entropy_with_logits(v, pr, pos_weight=w, reduction="none"), x),
            ("cross_entropy", lambda v: cross_entropy(v, t, weight=w, label_smoothing=0.1, reduction="none"),
             lambda v: F.cross_entropy(v, t, weight=w, label_smoothing=0.1, reduction="none"), x),
            ("cross_entropy_mean", lambda v: cross_entropy(v, t, weight=w, label_smoothing=0.1),
             lambda v: F.cross_entropy(v, t, weight=w, label_smoothing=0.1), x),
            ("logistic_loss", lambda v: logistic_loss(v, pm, reduction="none"),
             lambda v: F.soft_margin_loss(v, pm, reduction="none"), x)]
HALF_CASES = _half_cases()

@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name,f,ref,x", HALF_CASES, ids=[c[0] for c in HALF_CASES])
def test_half_precision_is_float32_rounded_once(name, f, ref, x, dtype):
    "float16/bfloat16: the value and the gradient are the float32 computation's, rounded once to the input's dtype."
    xh = x.to(dtype).requires_grad_()
    x32 = xh.detach().float().requires_grad_()
    out_h, out_32 = f(xh), f(x32)
    assert out_h.dtype == dtype
    assert torch.equal(out_h, out_32.to(dtype))
    up = torch.linspace(0.5, 1.5, out_h.numel()).reshape(out_h.shape).to(dtype)
    (out_h * up).sum().backward(); (out_32 * up.float()).sum().backward()
    assert xh.grad.dtype == dtype and torch.equal(xh.grad, x32.grad.to(dtype))

@pytest.mark.parametrize("name,f,ref,x", HALF_CASES, ids=[c[0] for c in HALF_CASES])
def test_autocast_output_dtype_follows_the_builtin(name, f, ref, x):
    "Under torch.autocast('cpu', bfloat16) torch's losses give float32 (float64 stays float64); ours give the same dtypes."
    for dt in (torch.bfloat16, torch.float32):
        v = x.to(dt)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ours = f(v).dtype
            expected = ref(v).dtype if ref is not None and name != "hinge_loss" else torch.float32
        assert ours == expected == torch.float32, (dt, ours, expected)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # float64 stays float64 (the built-ins, all arguments float64)
        assert f(x.double()).dtype == torch.float64
        assert F.multi_margin_loss(x.bfloat16(), torch.zeros(16, dtype=torch.long)).dtype == torch.float32  # hinge's built-in
        assert F.cross_entropy(x.double(), torch.zeros(16, dtype=torch.long)).dtype == torch.float64
