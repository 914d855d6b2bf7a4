"""Property tests of nnnotes.activations (hypothesis), the import test, torch-path gradchecks, dtypes, extremes,
torch.compile / torch.func / torch.export / autocast / half precision, and GPU tests."""
import pickle, subprocess, sys, textwrap, warnings
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import expit, ndtr
import nnnotes.activations as A
from nnnotes.core import numerical_grad
from nnnotes.checks.activations import _saved_bytes, _check_nonfinite, _half_precision, _truth

# name -> (function, derivative, kwargs, torch built-in reference)
CASES = {
    "sigmoid": (A.sigmoid, A.sigmoid_prime, {}, torch.sigmoid),
    "tanh": (A.tanh, A.tanh_prime, {}, torch.tanh),
    "relu": (A.relu, A.relu_prime, {}, F.relu),
    "leaky_relu": (A.leaky_relu, A.leaky_relu_prime, {"negative_slope": 0.05}, lambda x: F.leaky_relu(x, 0.05)),
    "gelu": (A.gelu, A.gelu_prime, {}, F.gelu),
    "gelu_tanh": (A.gelu, A.gelu_prime, {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh")),
    "gelu_sigmoid": (A.gelu, A.gelu_prime, {"approximate": "sigmoid"}, lambda x: x * torch.sigmoid(1.702 * x)),
    "elu": (A.elu, A.elu_prime, {"alpha": 1.3}, lambda x: F.elu(x, 1.3)),
}
NAMES = list(CASES)
EXTREMES = [-1e4, -1e3, -100., -20., -1., 0., 1., 20., 100., 1e3, 1e4]
floats = st.floats(-50, 50, allow_nan=False, width=64)
vectors = arrays(np.float64, st.integers(1, 30), elements=floats)
away_from_0 = arrays(np.float64, st.integers(1, 30), elements=floats.filter(lambda v: abs(v) > 1e-3))


def test_import_does_not_import_torch_sympy_matplotlib():
    code = ("import nnnotes.activations, sys; "
            "assert 'torch' not in sys.modules and 'sympy' not in sys.modules and 'matplotlib' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(x=vectors)
def test_numpy_matches_torch_builtin(name, x):
    f, _, kw, ref = CASES[name]
    y = f(x, **kw)
    assert isinstance(y, np.ndarray) and y.dtype == np.float64 and y.shape == x.shape
    np.testing.assert_allclose(y, ref(torch.from_numpy(x)).numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=30, deadline=None)
@given(x=away_from_0)
def test_derivative_matches_autograd_and_central_differences(name, x):
    f, fp, kw, ref = CASES[name]
    xt = torch.from_numpy(x).requires_grad_()
    g_ref, = torch.autograd.grad(ref(xt).sum(), xt)
    xo = torch.from_numpy(x).requires_grad_()
    g_ours, = torch.autograd.grad(f(xo, **kw).sum(), xo)
    # tanh-GELU' = (1 + t)/2 + x(1 - t^2)k(1 + 3cx^2)/2 cancels for x < 0 (t -> -1), in torch's formula and ours alike:
    # an absolute error of about eps * |x|k(1 + 3cx^2)/2, at most about 20 eps = 4.4e-15 (near x = -6; beyond -8, t = -1 exactly)
    atol = 8e-15 if name == "gelu_tanh" else 1e-15
    np.testing.assert_allclose(fp(x, **kw), g_ref.numpy(), rtol=1e-13, atol=atol)
    np.testing.assert_allclose(g_ours.numpy(), g_ref.numpy(), rtol=1e-13, atol=atol)
    np.testing.assert_allclose(numerical_grad(lambda v: f(v, **kw), x, elementwise=True), g_ref.numpy(), rtol=1e-8, atol=1e-9)


@settings(max_examples=60, deadline=None)
@given(x=vectors)
def test_identities(x):
    np.testing.assert_allclose(A.sigmoid(x) + A.sigmoid(-x), 1, rtol=0, atol=np.finfo(float).eps)  # two roundings
    np.testing.assert_allclose(A.tanh(x), 2 * A.sigmoid(2 * x) - 1, rtol=0, atol=4e-16)
    # 1 - σ inherits σ's rounding (ε/2) as an absolute error: σ(1 - σ) is accurate to about ε absolutely, as torch's backward
    np.testing.assert_allclose(A.sigmoid_prime(x), A.sigmoid(x) * A.sigmoid(-x), rtol=1e-14, atol=np.finfo(float).eps)
    np.testing.assert_allclose(A.tanh_prime(x), 1 - np.tanh(x) ** 2, rtol=0, atol=4e-16)
    np.testing.assert_array_equal(A.relu(x) - A.relu(-x), x)
    for approximate in ("none", "tanh", "sigmoid"):  # gelu(x) - gelu(-x) = x for the exact form and both approximations
        np.testing.assert_allclose(A.gelu(x, approximate) - A.gelu(-x, approximate), x, rtol=1e-15, atol=1e-14)
    neg = x[x <= 0]
    np.testing.assert_allclose(A.elu_prime(neg, 1.7), A.elu(neg, 1.7) + 1.7, rtol=0, atol=4e-16)  # elu' = elu + alpha


@settings(max_examples=60, deadline=None)
@given(x=vectors)
def test_sigmoid_against_expit_relative(x):
    np.testing.assert_allclose(A.sigmoid(x * 14), expit(x * 14), rtol=4e-16, atol=0)  # down to sigma(-700): relative accuracy
    np.testing.assert_allclose(A.gelu(x), x * ndtr(x), rtol=2e-16, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_and_gradgradcheck(name):
    f, _, kw, _ = CASES[name]
    x = torch.tensor([-3.1, -1.2, -0.4, 0.3, 0.9, 2.5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: f(v, **kw), x)
    assert torch.autograd.gradgradcheck(lambda v: f(v, **kw), x)


def test_conventions_at_zero():
    "Our documented choices at the kink (relu′(0) = 0, leaky′(0) = a, elu′(0) = α); torch's are printed, not asserted."
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    for name, chosen in (("relu", 0.0), ("leaky_relu", 0.05), ("elu", 1.3)):
        f, fp, kw, ref = CASES[name]
        g_ours, = torch.autograd.grad(f(z, **kw).sum(), z)
        assert float(fp(z.detach(), **kw)) == float(g_ours) == float(fp(0.0, **kw)) == chosen
        for dt in (torch.float32, torch.float16, torch.bfloat16):
            zd = torch.zeros(1, dtype=dt, requires_grad=True)
            g, = torch.autograd.grad(f(zd, **kw).sum(), zd)
            assert float(g) == float(torch.tensor(chosen, dtype=dt))
        g_ref, = torch.autograd.grad(ref(z).sum(), z)
        print(f"{name}: ours {chosen} at 0; torch {torch.__version__} gives {float(g_ref)}")
    assert A.relu_prime(0.0) == 0 and A.leaky_relu_prime(0.0, 0.2) == 0.2 and A.elu_prime(0.0, 2.0) == 2.0


@pytest.mark.parametrize("name", NAMES)
def test_saved_for_backward_no_more_than_builtin(name):
    f, _, kw, ref = CASES[name]
    x = torch.randn(1000, requires_grad=True)
    ours, theirs = _saved_bytes(lambda v: f(v, **kw), x), _saved_bytes(ref, x)
    assert 0 < ours <= theirs, (ours, theirs)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_torch_dtypes(name, dtype):
    f, fp, kw, ref = CASES[name]
    x64 = torch.linspace(-6, 6, 97, dtype=torch.float64)
    x = x64.to(dtype).requires_grad_()
    y = f(x, **kw)
    g, = torch.autograd.grad(y.sum(), x)
    assert y.dtype == g.dtype == fp(x.detach(), **kw).dtype == dtype
    eps = torch.finfo(dtype).eps
    exact = f(x.detach().double(), **kw)
    assert ((y.double() - exact).abs() / exact.abs().clamp(min=1)).max() <= 8 * eps  # each operation rounds to the dtype


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_numpy_dtypes(name, dtype):
    f, fp, kw, _ = CASES[name]
    x = np.linspace(-6, 6, 25).astype(dtype)
    assert f(x, **kw).dtype == dtype and fp(x, **kw).dtype == dtype


@pytest.mark.parametrize("name", NAMES)
def test_extremes_float32(name):
    f, fp, kw, ref = CASES[name]
    x = np.array(EXTREMES, np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is the right answer, not a warning
        y, g = f(x, **kw), fp(x, **kw)
    assert np.isfinite(y).all() and np.isfinite(g).all()
    # x·σ(1.702x) at x = -20 magnifies float32's rounding of 1.702x by the condition number 1.702|x| = 34 of e^(1.702x)
    rtol = 4e-6 if name == "gelu_sigmoid" else 2e-7
    np.testing.assert_allclose(y, ref(torch.tensor(EXTREMES, dtype=torch.float64)).numpy(), rtol=rtol, atol=1e-30)
    xt = torch.tensor(EXTREMES, requires_grad=True)
    gt, = torch.autograd.grad(f(xt, **kw).sum(), xt)
    assert torch.isfinite(gt).all()
    np.testing.assert_allclose(gt.numpy(), g, rtol=2e-7, atol=1e-30)


def test_bad_input():
    with pytest.raises(ValueError, match="approximate: must be one of"): A.gelu(np.zeros(2), "exact")
    with pytest.raises(ValueError, match="approximate: must be one of"): A.gelu_prime(np.zeros(2), "erf")
    with pytest.raises(ValueError, match="alpha: must lie in"): A.elu(np.zeros(2), -1.0)
    with pytest.raises(ValueError, match="negative_slope: has NaN"): A.leaky_relu(np.zeros(2), float("nan"))
    with pytest.raises(TypeError, match="x: expected a real number"): A.sigmoid("abc")
    with pytest.raises(TypeError, match="x: expected a real number"): A.relu(None)
    with pytest.raises(TypeError, match="x: expected real numbers"): A.gelu(torch.zeros(2, dtype=torch.complex64))
    assert A.sigmoid(np.float32(-1.0)).dtype == np.float32 and A.elu(np.float16(-1.0)).dtype == np.float16  # NumPy scalars keep their dtype


def test_modules():
    x = torch.randn(5, 7, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    pairs = [(A.Sigmoid(), torch.nn.Sigmoid()), (A.Tanh(), torch.nn.Tanh()), (A.ReLU(), torch.nn.ReLU()),
             (A.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)), (A.GELU("tanh"), torch.nn.GELU("tanh")), (A.ELU(2.0), torch.nn.ELU(2.0))]
    for ours, ref in pairs:
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-14, atol=1e-15)
        assert isinstance(ours, torch.nn.Module) and repr(pickle.loads(pickle.dumps(ours))) == repr(ours)
    assert repr(A.LeakyReLU(0.2)) == "LeakyReLU(negative_slope=0.2)"
    with pytest.raises(AttributeError): A.NoSuchThing


# ---- GPU: plain pytest + torch (skipped without CUDA) ----

@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_gpu_values_gradients_dtypes(name):
    f, fp, kw, ref = CASES[name]
    x = torch.randn(4096, device="cuda", dtype=torch.float64, generator=torch.Generator("cuda").manual_seed(0)) * 4
    x = torch.cat([x, torch.tensor(EXTREMES, device="cuda", dtype=torch.float64)]).requires_grad_()
    y = f(x, **kw)
    assert y.device.type == "cuda"
    torch.testing.assert_close(y, ref(x), rtol=1e-13, atol=1e-15)
    g, = torch.autograd.grad(y.sum(), x)
    g_ref, = torch.autograd.grad(ref(x).sum(), x)
    torch.testing.assert_close(g, g_ref, rtol=1e-13, atol=4e-16)
    torch.testing.assert_close(fp(x.detach(), **kw), g_ref, rtol=1e-13, atol=1e-15)
    xs = x[:8].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda v: f(v, **kw), xs) and torch.autograd.gradgradcheck(lambda v: f(v, **kw), xs)
    for dt in (torch.float16, torch.bfloat16, torch.float32):
        xd = x.detach()[:4096].to(dt).requires_grad_()
        yd = f(xd, **kw)
        gd, = torch.autograd.grad(yd.sum(), xd)
        assert yd.dtype == gd.dtype == dt and yd.device.type == "cuda" and torch.isfinite(yd).all() and torch.isfinite(gd).all()


@pytest.mark.gpu
@pytest.mark.parametrize("name", NAMES)
def test_gpu_backward_memory(name):
    "CUDA memory held after the forward (output + what is saved for backward) is no more than the built-in's."
    f, _, kw, ref = CASES[name]
    x = torch.randn(1 << 22, device="cuda", requires_grad=True)
    def held(fn):
        torch.cuda.synchronize(); before = torch.cuda.memory_allocated()
        y = fn(x)
        torch.cuda.synchronize(); after = torch.cuda.memory_allocated()
        del y
        return after - before
    held(lambda v: f(v, **kw)); held(ref)  # warm up
    assert held(lambda v: f(v, **kw)) <= held(ref)


@pytest.mark.parametrize("name", NAMES)
def test_prime_differentiable(name):
    # the formulas update fresh temporaries in place: autograd must still see a valid graph through the derivatives
    f, fp, kw, ref = CASES[name]
    x = torch.tensor([-3.1, -0.4, 0.7, 2.3], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: fp(v, **kw), x)
    y = f(x, **kw)
    g, = torch.autograd.grad(y.sum(), x, create_graph=True)
    gg, = torch.autograd.grad(g.sum(), x)
    xr = x.detach().clone().requires_grad_()
    gr, = torch.autograd.grad(ref(xr).sum(), xr, create_graph=True)
    ggr, = torch.autograd.grad(gr.sum(), xr)
    torch.testing.assert_close(gg, ggr, rtol=1e-12, atol=1e-14)




@pytest.mark.parametrize("name", NAMES)
def test_zero_dim_and_python_scalars(name):
    # the formulas update temporaries in place: NumPy 0-d inputs give NumPy scalars, which must work too
    f, fp, kw, ref = CASES[name]
    for v in (-2.5, 0.0, 1.5):
        for x in (v, np.array(v), np.float64(v)):
            np.testing.assert_allclose(f(x, **kw), ref(torch.tensor(v, dtype=torch.float64)).item(), rtol=1e-14, atol=1e-15)
            assert np.isfinite(fp(x, **kw))


# ---- review fixes: ±inf/NaN, torch.func, drop-in nn.Modules ----

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16])
def test_sigmoid_at_infinity(dtype):
    # sigma(-inf) = 0, sigma(inf) = 1, sigma' = 0 there, as torch.sigmoid and expit; was NaN at -inf (exp(-inf + inf))
    x = torch.tensor([-np.inf, np.inf, np.nan], dtype=dtype, requires_grad=True)
    y = A.sigmoid(x)
    g, = torch.autograd.grad(y.sum(), x)
    torch.testing.assert_close(y, torch.sigmoid(x), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(g, torch.tensor([0., 0., np.nan], dtype=dtype), rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(A.sigmoid_prime(x.detach()), g, rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(A.Sigmoid()(x), torch.sigmoid(x), rtol=0, atol=0, equal_nan=True)
    for dt in (np.float64, np.float32, np.float16):
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            xn = np.array([-np.inf, np.inf], dt)
            np.testing.assert_array_equal(A.sigmoid(xn), expit(xn))
            np.testing.assert_array_equal(A.sigmoid_prime(xn), [0, 0])
            np.testing.assert_array_equal(A.gelu(xn[1:], "sigmoid"), [np.inf])


def test_nonfinite_all_activations():
    o = _check_nonfinite()
    assert o.symbolic, o.detail


def test_gelu_derivatives_at_infinity_are_limits():
    x = torch.tensor([-np.inf, np.inf], dtype=torch.float64)
    for approximate in ("none", "tanh", "sigmoid"):
        np.testing.assert_array_equal(A.gelu_prime(x, approximate).numpy(), [0., 1.])
        xg = x.clone().requires_grad_()
        g, = torch.autograd.grad(A.gelu(xg, approximate).sum(), xg)
        np.testing.assert_array_equal(g.numpy(), [0., 1.])


def _grad_sum(h):
    return torch.func.grad(lambda v: h(v).sum())


TRANSFORMS = {"grad": _grad_sum, "jacrev": torch.func.jacrev, "jacfwd": torch.func.jacfwd,
              "hessian": lambda h: torch.func.hessian(lambda v: h(v).sum()),
              "vmap_grad": lambda h: torch.func.vmap(_grad_sum(h))}


@pytest.mark.parametrize("transform", list(TRANSFORMS))
@pytest.mark.parametrize("name", NAMES)
def test_torch_func_transforms(name, transform):
    f, _, kw, ref = CASES[name]
    shape = (4, 6) if transform == "vmap_grad" else (6,)
    x = torch.randn(*shape, dtype=torch.float64, generator=torch.Generator().manual_seed(5)) * 3
    tr = TRANSFORMS[transform]
    torch.testing.assert_close(tr(lambda v: f(v, **kw))(x), tr(ref)(x), rtol=1e-12, atol=1e-14)


def test_torch_func_grad_relu_issue_example():
    x = torch.randn(3, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.func.grad(lambda v: A.relu(v).sum())(x), (x > 0).float())


def test_function_has_modern_form():
    from nnnotes._activations_torch import _FUNCTIONS
    assert len(_FUNCTIONS) == 8
    for eager, compiled, _ in _FUNCTIONS.values():
        assert eager.generate_vmap_rule and "setup_context" in vars(eager) and "jvp" in vars(eager)
        assert compiled.generate_vmap_rule and "jvp" not in vars(compiled)  # Dynamo cannot trace a custom jvp


def _pairs():
    return [(A.Sigmoid(), torch.nn.Sigmoid()), (A.Tanh(), torch.nn.Tanh()), (A.ReLU(), torch.nn.ReLU()),
            (A.ReLU(True), torch.nn.ReLU(True)), (A.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
            (A.LeakyReLU(), torch.nn.LeakyReLU()), (A.LeakyReLU(0.2, True), torch.nn.LeakyReLU(0.2, True)),
            (A.LeakyReLU(negative_slope=0.0, inplace=True), torch.nn.LeakyReLU(negative_slope=0.0, inplace=True)),
            (A.ELU(), torch.nn.ELU()), (A.ELU(2.0, True), torch.nn.ELU(2.0, True)),
            (A.ELU(alpha=0.5, inplace=True), torch.nn.ELU(alpha=0.5, inplace=True)),
            (A.GELU(), torch.nn.GELU()), (A.GELU("tanh"), torch.nn.GELU("tanh")), (A.GELU(approximate="none"), torch.nn.GELU(approximate="none"))]


@pytest.mark.parametrize("i", range(len(_pairs())))
def test_modules_drop_in(i):
    ours, theirs = _pairs()[i]
    assert repr(ours) == repr(theirs)
    assert getattr(ours, "inplace", None) == getattr(theirs, "inplace", None)
    a = torch.randn(7, dtype=torch.float64, generator=torch.Generator().manual_seed(i), requires_grad=True)
    c = a.detach().clone().requires_grad_()
    b, d = a * 1, c * 1  # non-leaves: in place is allowed
    yo, yt = ours(b), theirs(d)
    assert (yo is b) == (yt is d)
    torch.testing.assert_close(yo, yt, rtol=1e-15, atol=0)
    go, = torch.autograd.grad(yo.sum(), a)
    gt, = torch.autograd.grad(yt.sum(), c)
    torch.testing.assert_close(go, gt, rtol=1e-15, atol=2 ** -52)
    assert repr(pickle.loads(pickle.dumps(ours))) == repr(ours)
    if getattr(theirs, "inplace", False):
        for m in (ours, theirs):  # a leaf that requires grad, and a view of one: the same error
            leaf = torch.zeros(3, requires_grad=True)
            with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
                m(leaf)
            with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
                m(leaf[:2])
        with torch.no_grad():  # allowed without grad mode, as torch
            xl = torch.tensor([-1.5, 2.0], requires_grad=True)
            assert ours(xl) is xl
            torch.testing.assert_close(xl, theirs(torch.tensor([-1.5, 2.0])))
        xn = np.array([-1.5, 2.0])
        assert ours(xn) is xn
        np.testing.assert_allclose(xn, theirs(torch.tensor([-1.5, 2.0], dtype=torch.float64)).numpy(), rtol=1e-15)


def test_modules_inplace_through_graph():
    # in place after another op in a deeper graph: gradients equal torch's
    w = torch.randn(4, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    for ours, theirs in ((A.ReLU(True), torch.nn.ReLU(True)), (A.LeakyReLU(0.3, True), torch.nn.LeakyReLU(0.3, True)),
                         (A.ELU(1.5, True), torch.nn.ELU(1.5, True))):
        go, = torch.autograd.grad((ours(x @ w) ** 2).sum(), w)
        gt, = torch.autograd.grad((theirs(x @ w) ** 2).sum(), w)
        torch.testing.assert_close(go, gt, rtol=1e-14, atol=1e-14)


def test_modules_validate_on_construction():
    with pytest.raises(ValueError, match="approximate: must be one of"): A.GELU("bogus")
    with pytest.raises(ValueError, match="alpha: must lie in"): A.ELU(alpha=-1)
    with pytest.raises(ValueError, match="negative_slope: has NaN"): A.LeakyReLU(float("nan"))
    with pytest.raises(RuntimeError, match="negative slope"):  # torch raises in its backward; we refuse already
        A.LeakyReLU(-0.1, inplace=True)(torch.randn(3, requires_grad=True) * 1)
    torch.testing.assert_close(A.LeakyReLU(-0.1, inplace=True)(torch.tensor([-2., 3.])), torch.tensor([0.2, 3.]))
    assert repr(A.GELU("sigmoid")) == "GELU(approximate='sigmoid')"


# ---- inside real PyTorch programs: torch.compile, torch.func, torch.export, autocast, half precision ----

def _modules():
    return [A.Sigmoid(), A.Tanh(), A.ReLU(), A.LeakyReLU(0.2), A.GELU(), A.GELU("tanh"), A.GELU("sigmoid"),
            A.ELU(1.5), A.ReLU(inplace=True), A.LeakyReLU(0.2, inplace=True), A.ELU(1.5, inplace=True)]


@pytest.mark.parametrize("i", range(len(_modules())))
def test_compile_module_after_linear_fullgraph(i):
    "Linear → activation → Linear: one graph, no break, compiled values and gradients equal eager (aot_eager)."
    import torch._dynamo as dynamo
    torch.manual_seed(i)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), _modules()[i], torch.nn.Linear(16, 4))
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(i))
    dynamo.reset()
    e = dynamo.explain(net)(x)
    assert e.graph_count == 1 and e.graph_break_count == 0, e.break_reasons
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    y1, y0 = compiled(x), net(x)
    g1 = torch.autograd.grad(y1.square().sum(), list(net.parameters()))
    g0 = torch.autograd.grad(y0.square().sum(), list(net.parameters()))
    tol = _compiled_tol(isinstance(net[1], A.GELU) and net[1].approximate == "none")
    torch.testing.assert_close(y1, y0, **tol)
    for a, b in zip(g1, g0): torch.testing.assert_close(a, b, **tol)
    dynamo.reset()


def _compiled_tol(fitted_phi):
    "Compiled equals eager bit for bit, except exact GELU below float64: Φ from erfc's fit (float32 defaults)."
    return {} if fitted_phi else dict(rtol=0, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_compile_function_after_linear_fullgraph(name):
    import torch._dynamo as dynamo
    f, _, kw, _ = CASES[name]
    lin = torch.nn.Linear(8, 16)
    def model(v): return f(lin(v), **kw).sum()
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    dynamo.reset()
    e = dynamo.explain(model)(x)
    assert e.graph_count == 1 and e.graph_break_count == 0, e.break_reasons
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    g1 = torch.autograd.grad(compiled(x), lin.weight)[0]
    g0 = torch.autograd.grad(model(x), lin.weight)[0]
    torch.testing.assert_close(g1, g0, **_compiled_tol(name == "gelu"))
    dynamo.reset()


def test_compile_when_first_call_ever_is_compiled():
    "A fresh process whose first torch call of nnnotes is inside torch.compile(fullgraph=True)."
    code = textwrap.dedent("""
        import sys, warnings
        warnings.simplefilter("ignore")
        import nnnotes.activations as A
        assert "torch" not in sys.modules
        import torch
        net = torch.nn.Sequential(torch.nn.Linear(8, 16), A.GELU(), torch.nn.Linear(16, 8), A.ELU(), torch.nn.Linear(8, 4))
        assert "nnnotes._activations_torch" in sys.modules  # the modules were loaded, no Function has run
        x = torch.randn(5, 8)
        compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
        y = compiled(x)
        y.sum().backward()
        g1 = net[0].weight.grad.clone(); net.zero_grad()
        net(x).sum().backward()
        torch.testing.assert_close(g1, net[0].weight.grad)  # GELU's compiled Φ: erfc's fit
        torch._dynamo.reset()
        f = torch.compile(lambda v: A.sigmoid(torch.nn.functional.linear(v, net[0].weight)).sum(), fullgraph=True,
                          backend="aot_eager")
        f(x).backward()
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_compile_gelu_float64_bitwise_and_fitted_phi_accuracy():
    "Compiled exact GELU: float64 keeps erfc (bit for bit); float32's fitted Φ within its derived bound."
    import torch._dynamo as dynamo
    from nnnotes.checks.activations import _check_phi_fitted
    lin = torch.nn.Linear(8, 16).double()
    def model(v): return A.gelu(lin(v)).square().sum()
    x = torch.randn(5, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    dynamo.reset()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    g1, g0 = (torch.autograd.grad(m(x), lin.weight)[0] for m in (compiled, model))
    torch.testing.assert_close(g1, g0, rtol=0, atol=0)
    dynamo.reset()
    o = _check_phi_fitted()
    assert o.symbolic, o.detail


def test_compile_inductor():
    "One real inductor compile: GELU and ELU (the erfc and expm1 paths) fused; values and gradients match eager."
    import torch._dynamo as dynamo
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 16), A.GELU(), torch.nn.Linear(16, 16), A.ELU(), torch.nn.Linear(16, 4))
    x = torch.randn(32, 8, generator=torch.Generator().manual_seed(0))
    dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        compiled = torch.compile(net, fullgraph=True)
        y1 = compiled(x)
        g1 = torch.autograd.grad(y1.square().sum(), list(net.parameters()))
    y0 = net(x)
    g0 = torch.autograd.grad(y0.square().sum(), list(net.parameters()))
    torch.testing.assert_close(y1, y0, rtol=1e-5, atol=1e-6)
    for a, b in zip(g1, g0): torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    dynamo.reset()


@pytest.mark.parametrize("name", NAMES)
def test_torch_export(name):
    f, _, kw, ref = CASES[name]
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__(); self.lin = torch.nn.Linear(3, 4)
        def forward(self, v): return f(self.lin(v), **kw)
    net = Net()
    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(2))
    ep = torch.export.export(net, (x,))
    torch.testing.assert_close(ep.module()(x), net(x), **_compiled_tol(name == "gelu"))
    torch.testing.assert_close(net(x), ref(net.lin(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_per_sample_gradients_vmap_grad(name):
    "vmap(grad(...)) with functional_call equals a loop of per-sample backward passes."
    f, _, kw, _ = CASES[name]
    lin = torch.nn.Linear(3, 4).double()
    params = {k: v.detach() for k, v in lin.named_parameters()}
    def loss(p, xi): return f(torch.func.functional_call(lin, p, (xi,)), **kw).square().sum()
    xs = torch.randn(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3)) * 2
    per_sample = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, xs)
    loop = torch.stack([torch.autograd.grad(f(lin(xi), **kw).square().sum(), lin.weight)[0] for xi in xs])
    torch.testing.assert_close(per_sample["weight"], loop, rtol=1e-12, atol=1e-14)


def test_half_precision_every_value_within_2_ulp_of_builtin():
    "Every finite float16/bfloat16 value: within 2 ulp of the built-in, or nearer the float64 truth, or in float32's noise."
    rows = _half_precision()
    assert len(rows) == 28 and all(r["n"] > 60000 for r in rows)
    assert all(r["bad"] == 0 for r in rows), [r for r in rows if r["bad"]]
    # the criterion is not empty: a bfloat16 computation that rounds every step fails it
    by = {(r["case"], r["dtype"], r["what"]): r for r in rows}
    assert by["elu", "bfloat16", "gradient"]["max_ulp"] == 0 and by["tanh", "float16", "value"]["max_ulp"] == 0


@pytest.mark.parametrize("name, x0", [("gelu", -0.754), ("elu", -6.875)])
def test_half_precision_cases_from_the_report(name, x0):
    "GELU′ at −0.754 had the wrong sign in bfloat16, ELU′ at −6.875 was 0: now the built-in's and the truth's sign."
    from nnnotes.checks.activations import _cases
    f, _, kw, ref, _ = _cases()[name]
    for dt in (torch.bfloat16, torch.float16):
        xo = torch.tensor([x0], dtype=dt, requires_grad=True)
        xr = xo.detach().clone().requires_grad_()
        go, = torch.autograd.grad(f(xo, **kw).sum(), xo)
        gr, = torch.autograd.grad(ref(xr).sum(), xr)
        truth = float(_truth(name, xo.detach())[1][0])
        assert go.dtype == dt and float(go) * truth > 0
        assert abs(float(go) - truth) <= abs(truth) * torch.finfo(dt).eps, (float(go), truth)  # rounded once
        assert abs(float(go) - float(gr)) <= 2 * abs(float(gr)) * torch.finfo(dt).eps


def _bf16_naive_gelu_grad(x):
    "GELU′ = Φ + xφ computed in bfloat16 step by step: what the old code did."
    phi = torch.exp(-0.5 * x * x) * (1 / np.sqrt(2 * np.pi))
    return 0.5 * torch.special.erfc(x * -np.sqrt(0.5)) + x * phi


def test_half_precision_check_can_fail():
    "The naive bfloat16 computation has the wrong sign at −0.754: the test above would catch it."
    x = torch.tensor([-0.754], dtype=torch.bfloat16)
    truth = float(_truth("gelu", x)[1][0])
    assert float(_bf16_naive_gelu_grad(x)) * truth < 0


@pytest.mark.parametrize("name", NAMES)
def test_autocast_dtypes_follow_builtins(name):
    f, fp, kw, ref = CASES[name]
    lin = torch.nn.Linear(8, 8)
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        h = lin(x)  # bfloat16 under autocast
        for inp in (h, x, x.double()):
            assert f(inp, **kw).dtype == ref(inp).dtype == inp.dtype
        g, = torch.autograd.grad(f(lin(x), **kw).float().sum(), lin.weight)
        g_ref, = torch.autograd.grad(ref(lin(x)).float().sum(), lin.weight)
    assert g.dtype == g_ref.dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_compiled_half_precision_gelu_within_2_ulp_or_nearer_truth(dtype):
    "Inductor-compiled exact GELU in half precision (Φ from erfc's fit in float32): every finite value."
    import torch._dynamo as dynamo
    from nnnotes.checks.activations import _ulps
    x = torch.arange(-2**15, 2**15, dtype=torch.int32).to(torch.int16).view(dtype)
    x = x[torch.isfinite(x)]
    dynamo.reset()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, ref = torch.compile(A.gelu), torch.compile(F.gelu)
        xo, xr = x.clone().requires_grad_(), x.clone().requires_grad_()
        yo, yr = ours(xo), ref(xr)
        go, = torch.autograd.grad(yo.sum(), xo)
        gr, = torch.autograd.grad(yr.sum(), xr)
    for o, r, t in zip((yo, go), (yr, gr), _truth("gelu", x)):
        o, r = o.detach(), r.detach()
        def off(a): return torch.nan_to_num((a.double() - t).abs(), nan=float("inf"))
        bad = (_ulps(o, r) > 2) & (off(o) > off(r))
        assert not bad.any(), x[bad][:10]
    assert int(_ulps(yo.detach(), A.gelu(x)).max()) <= 1  # compiled vs eager (erfc): the fit rounds away
    dynamo.reset()
