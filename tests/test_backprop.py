"nnnotes.backprop: Var gradients on random graphs vs torch.autograd, deep graphs, path sum vs reverse mode, the MLP's backward pass."
import math, subprocess, sys
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose

from nnnotes.backprop import Var, MLP, path_sum_grad, reverse_mode_grad
from nnnotes.checks.backprop import _layered_graph
from nnnotes.checks import run_checks
from nnnotes.core import numerical_grad

# ---------------------------------------------------------------- random Var graphs
# A program is a list of (op, i, j, c, side): node i (and node j, or the number c) combined by op, the result
# appended to the node list. side: "v" unary, "vv" node∘node, "vn" node∘number, "nv" number∘node. Operands are
# drawn from every node made so far, so subexpressions are shared; the output is the last node.
APPLY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b, "truediv": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,  # "vn": node ** number; "nv": number ** node
    "neg": lambda a, b: -a, "exp": lambda a, b: a.exp(), "log": lambda a, b: a.log(), "tanh": lambda a, b: a.tanh(),
    "sigmoid": lambda a, b: a.sigmoid(), "relu": lambda a, b: a.relu(),
}
UNARY = ("neg", "exp", "log", "tanh", "sigmoid", "relu")
BINARY = ("add", "sub", "mul", "truediv", "pow")
EXPONENTS = (0.0, 1.0, 2.0, 3.0, -1.0, -2.0, 0.5, 1.5, -0.5)

def run(program, leaves):
    nodes = list(leaves)
    for op, i, j, c, side in program:
        a, b = nodes[i], (nodes[j] if side == "vv" else c)
        if side == "nv": a, b = c, a
        nodes.append(APPLY[op](a, b))
    return nodes[-1]

def _ok(op, side, a, b):
    "Keep every step inside its domain and away from poles, so both engines compute well-conditioned numbers."
    if op == "log": return a > 0.1
    if op == "exp": return a < 5
    if op == "truediv": return abs(b) > 0.1
    if op == "pow" and side == "vn": return (a > 0.1) or (b.is_integer() and (b >= 0 or abs(a) > 0.1))
    if op == "pow" and side == "nv": return a > 0.1 and b < 5
    return True

@st.composite
def programs(draw, max_ops=25):
    leaves = draw(st.lists(st.floats(-2, 2), min_size=1, max_size=4))
    vals, program = [Var(v) for v in leaves], []
    consts = st.floats(-3, 3).filter(lambda c: abs(c) > 0.1)
    for _ in range(draw(st.integers(1, max_ops))):
        op = draw(st.sampled_from(UNARY + BINARY))
        i = draw(st.integers(0, len(vals) - 1))
        if op in UNARY: side, j, c = "v", 0, 0.0
        else:
            side, j = draw(st.sampled_from(("vv", "vn", "nv"))), draw(st.integers(0, len(vals) - 1))
            c = draw(st.sampled_from(EXPONENTS) if op == "pow" and side == "vn" else
                     st.floats(0.2, 3) if op == "pow" else consts)
            if op == "pow" and side == "vv": side = "vn"  # the exponent is a number
        a = vals[i].value
        b = vals[j].value if side == "vv" else c
        if side == "nv": a, b = c, vals[i].value
        if not _ok(op, side, a, b): continue
        new = run([(op, i, j, c, side)], vals)
        if abs(new.value) > 1e3: continue
        vals.append(new)
        program.append((op, i, j, c, side))
    return leaves, program

def _grads_torch(leaves, program):
    ts = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in leaves]
    out = run(program, ts)
    if out.requires_grad: out.backward()
    return out.item(), [0.0 if t.grad is None else t.grad.item() for t in ts]

@settings(max_examples=300, deadline=None)
@given(programs())
def test_var_matches_torch_autograd(prog):
    leaves, program = prog
    xs = [Var(v) for v in leaves]
    out = run(program, xs)
    out.backward()
    value, grads = _grads_torch(leaves, program)
    assert_allclose(out.value, value, rtol=1e-10, atol=1e-10)
    assert_allclose([x.grad for x in xs], grads, rtol=1e-10, atol=1e-10)

def test_every_operator_and_method_is_drawn():
    "The strategy really produces every op and every side (so the property above covers them)."
    seen = set()
    @settings(max_examples=200, deadline=None)
    @given(programs())
    def collect(prog): seen.update((op, side) for op, _, _, _, side in prog[1])
    collect()
    want = {(op, "v") for op in UNARY} | {(op, s) for op in ("add", "sub", "mul", "truediv") for s in ("vv", "vn", "nv")}
    want |= {("pow", "vn"), ("pow", "nv")}
    assert want <= seen, want - seen

def _n_paths(out):
    "Number of paths from out to every leaf (dynamic programming over the graph)."
    from nnnotes.backprop import _topological
    count = {}
    for n in _topological(out): count[n] = sum(count[p] for p, _ in n.parents) if n.parents else 1
    return count[out]

@settings(max_examples=150, deadline=None)
@given(programs(max_ops=15))
def test_path_sum_equals_reverse_mode(prog):
    leaves, program = prog
    xs = [Var(v) for v in leaves]
    out = run(program, xs)
    if _n_paths(out) > 20_000: return  # the path sum is exponential; that is the point
    gp, mp = path_sum_grad(out, xs)
    gr, mr = reverse_mode_grad(out, xs)
    assert_allclose(gp, gr, rtol=1e-10, atol=1e-10)
    assert_allclose(gr, _grads_torch(leaves, program)[1], rtol=1e-10, atol=1e-10)
    # every edge below the output lies on some path to a leaf, and a path of L edges costs L − 1: never fewer
    assert isinstance(mp, int) and isinstance(mr, int) and 0 <= mr <= mp

@pytest.mark.parametrize("depth,width", [(1, 2), (5, 2), (10, 2), (4, 3), (7, 3)])
def test_counts_on_layered_graph(depth, width):
    x, f, Ws = _layered_graph(depth, width, seed=depth)
    (gp,), mp = path_sum_grad(f, [x])
    (gr,), mr = reverse_mode_grad(f, [x])
    assert mp == depth * width**depth
    assert mr == width + (depth - 1) * width**2
    tx = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    h = tx.reshape(1)
    for W in Ws: h = torch.tanh(torch.tensor(W) @ h)
    h.sum().backward()
    assert_allclose([gp, gr], [tx.grad.item()] * 2, rtol=1e-12)

def test_unreachable_and_output_nodes():
    x, y = Var(2.0), Var(3.0)
    f = x * 4
    assert reverse_mode_grad(f, [x, y, f])[0] == [4.0, 0.0, 1.0]
    assert path_sum_grad(f, [x, y, f])[0] == [4.0, 0.0, 1.0]

def test_shared_node_visited_once():
    "x doubled 200 times has 2^200 paths to the output; reverse mode visits 201 nodes and gets 2^200 exactly."
    x = h = Var(1.0)
    for _ in range(200): h = h + h
    h.backward()
    assert x.grad == 2.0**200
    assert reverse_mode_grad(h, [x]) == ([2.0**200], 2 * 199)  # two edges into each of the 199 nodes below the output

def test_backward_resets_grads():
    x = Var(1.5)
    f = x * x
    f.backward(); f.backward()
    assert x.grad == 3.0

# ---------------------------------------------------------------- deep graphs
def test_deep_chain_no_recursion_error():
    depth = 10_000
    assert depth > sys.getrecursionlimit()
    x = h = Var(0.3)
    tx = th = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    for _ in range(depth):
        h = h + 0.001 * h.tanh() - 0.0005 * (h * 0.5).sigmoid()
        th = th + 0.001 * th.tanh() - 0.0005 * (th * 0.5).sigmoid()
    h.backward()
    th.backward()
    assert_allclose(h.value, th.item(), rtol=1e-12)
    assert_allclose(x.grad, tx.grad.item(), rtol=1e-10)

def test_deeper_graph_and_teardown():
    "10⁵ nodes deep: backward and garbage collection both survive."
    x = h = Var(1.0)
    for _ in range(100_000): h = h * 1.0 + 0.0
    h.backward()
    assert x.grad == 1.0
    del h

# ---------------------------------------------------------------- Var errors
@pytest.mark.parametrize("bad,msg", [
    (lambda: Var(1.0) + "a", "cannot combine with str"),
    (lambda: [1] * Var(2.0), "cannot combine with list"),
    (lambda: Var(0.0).log(), "needs a positive value"),
    (lambda: Var(-2.0) ** 0.5, "needs an integer exponent"),
    (lambda: Var(2.0) ** Var(2.0), "exponent p must be a number"),
    (lambda: 0 ** Var(1.0), "base c must be positive"),
])
def test_var_errors(bad, msg):
    with pytest.raises((TypeError, ValueError), match=msg): bad()

# ---------------------------------------------------------------- MLP
TORCH_ACT = {"tanh": torch.nn.Tanh, "sigmoid": torch.nn.Sigmoid, "relu": torch.nn.ReLU,
             "leaky_relu": torch.nn.LeakyReLU, "gelu": torch.nn.GELU, "elu": torch.nn.ELU}

def _torch_reference(mlp, x, y, activation, dtype):
    "An independent torch network (nn.Linear layers with the MLP's weights) and its autograd gradients."
    layers = []
    for l in range(0, len(mlp.params), 2):
        lin = torch.nn.Linear(mlp.sizes[l // 2], mlp.sizes[l // 2 + 1], dtype=dtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(mlp.params[l])); lin.bias.copy_(torch.from_numpy(mlp.params[l + 1]))
        layers += [lin, TORCH_ACT[activation]()]
    net = torch.nn.Sequential(*layers[:-1])
    loss = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(np.asarray(y)))
    loss.backward()
    return loss.item(), [g.detach().numpy() for lin in layers[::2] for g in (lin.weight.grad, lin.bias.grad)]

@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4).filter(lambda s: s[-1] >= 2),
       n=st.integers(1, 8), activation=st.sampled_from(sorted(TORCH_ACT)), seed=st.integers(0, 2**16))
def test_mlp_matches_torch_autograd(sizes, n, activation, seed):
    mlp = MLP(sizes, activation, seed=seed)
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, sizes[0])), rng.integers(0, sizes[-1], n)
    loss, grads = mlp.loss_and_grads(x, y)
    ref_loss, ref_grads = _torch_reference(mlp, x, y, activation, torch.float64)
    assert_allclose(loss, ref_loss, rtol=1e-10)
    assert [g.shape for g in grads] == mlp.shapes == [p.shape for p in mlp.params]
    for g, r in zip(grads, ref_grads): assert_allclose(g, r, rtol=1e-10, atol=1e-12)

def test_mlp_float32_keeps_dtype():
    mlp = MLP([6, 5, 4], "tanh", seed=1, dtype=np.float32)
    x, y = np.random.default_rng(0).normal(size=(7, 6)), [0, 1, 2, 3, 0, 1, 2]
    loss, grads = mlp.loss_and_grads(x, y)
    assert all(p.dtype == np.float32 for p in mlp.params) and all(g.dtype == np.float32 for g in grads)
    assert mlp.forward(x).dtype == np.float32
    ref_loss, ref_grads = _torch_reference(mlp, x.astype(np.float32), y, "tanh", torch.float32)
    assert_allclose(loss, ref_loss, rtol=1e-6)
    for g, r in zip(grads, ref_grads): assert_allclose(g, r, rtol=1e-5, atol=1e-7)

@pytest.mark.parametrize("activation", ["tanh", "sigmoid"])
def test_mlp_matches_numerical_grad(activation):
    mlp = MLP([4, 5, 3, 3], activation, seed=3)
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    _, grads = mlp.loss_and_grads(x, y)
    for i, (g, p) in enumerate(zip(grads, mlp.params)):
        num = numerical_grad(lambda q: mlp.loss(x, y, params=mlp.params[:i] + [q] + mlp.params[i + 1:]), p)
        assert_allclose(g, num, rtol=1e-7, atol=1e-9)

def test_mlp_activation_pair_and_params_setter():
    mlp = MLP([3, 4, 2], activation=(np.tanh, lambda z: 1 - np.tanh(z) ** 2), seed=0)
    ref = MLP([3, 4, 2], activation="tanh", seed=0)
    x, y = np.ones((2, 3)), [0, 1]
    assert_allclose(mlp.loss_and_grads(x, y)[1][0], ref.loss_and_grads(x, y)[1][0], rtol=1e-15)
    new = [np.zeros(s) for s in mlp.shapes]
    mlp.params = new
    assert_allclose(mlp.loss(x, y), math.log(2), rtol=1e-15)  # zero weights: uniform softmax
    mlp.params[1] += 1.0  # in-place updates are seen
    assert mlp.params[1][0] == 1.0

@pytest.mark.parametrize("make,msg", [
    (lambda m: MLP([5]), "sizes: expected at least two"),
    (lambda m: MLP([5, 2.5, 2]), "sizes:"),
    (lambda m: MLP([5, 2], dtype=np.int64), "dtype: must be one of"),
    (lambda m: MLP([5, 2], activation="nope"), "activation: must be one of"),
    (lambda m: m.forward(np.zeros((3, 4))), r"x: expected shape \(N, 5\), got \(3, 4\)"),
    (lambda m: m.forward(np.zeros((2, 3, 5))), r"x: expected shape \(N, 5\)"),
    (lambda m: m.forward(np.full((2, 5), np.inf)), "x: has NaN or infinite"),
    (lambda m: m.loss(np.zeros((3, 5)), [0, 1]), r"y: expected class indices of shape \(3,\)"),
    (lambda m: m.loss_and_grads(np.zeros((2, 5)), [[0, 1]]), r"y: expected class indices of shape \(2,\)"),
    (lambda m: m.loss_and_grads(np.zeros((2, 5)), [0, -1]), r"y: class indices must lie in \[0, 3\)"),
    (lambda m: m.loss_and_grads(np.zeros((2, 5)), [0.0, 1.0]), "y: class indices must be integers"),
    (lambda m: setattr(m, "params", m.params[:2]), "params: expected 4 arrays, got 2"),
    (lambda m: setattr(m, "params", [p.T for p in m.params]), r"params\[0\]: expected shape \(4, 5\), got \(5, 4\)"),
    (lambda m: m.forward(np.zeros((2, 5)), params=[np.zeros(3)] * 4), r"params\[0\]: expected shape"),
])
def test_mlp_shape_errors(make, msg):
    with pytest.raises(ValueError, match=msg): make(MLP([5, 4, 3], seed=0))

def test_mlp_repr_names_the_activation():
    "The repr names a pair's functions (no memory address) and quotes an activation's name."
    def dtanh(z): return 1 - np.tanh(z) ** 2
    assert repr(MLP([3, 2], activation=(np.tanh, dtanh))) == "MLP([3, 2], activation=(tanh, dtanh), dtype=float64)"
    assert repr(MLP([3, 4, 2], "relu", dtype=np.float32)) == "MLP([3, 4, 2], activation='relu', dtype=float32)"
    assert "0x" not in repr(MLP([3, 2], activation=(np.tanh, lambda z: 1 - np.tanh(z) ** 2)))

def test_mlp_activation_wrong_kind():
    with pytest.raises(TypeError, match="activation: expected a name"): MLP([5, 2], activation=(np.tanh,))

# ---------------------------------------------------------------- packaging, registry, GPU
def test_import_does_not_pull_heavy_modules():
    for mod in ("nnnotes.backprop", "nnnotes.checks.backprop"):
        code = (f"import {mod}, sys; "
                "assert 'torch' not in sys.modules and 'sympy' not in sys.modules and 'matplotlib' not in sys.modules")
        subprocess.run([sys.executable, "-c", code], check=True)

def test_module_holds_formulas_only():
    "The certificate lives in nnnotes/checks/backprop.py; the formula module registers nothing."
    import nnnotes.backprop as m, inspect
    text = inspect.getsource(m)
    assert not any(w in text for w in ("register_check", "register_bench", "sympy", "__import__", "sys.modules"))

def test_registered_checks_pass():
    import nnnotes.checks.backprop  # registers the section's checks
    rows = run_checks(sections=["backprop"])
    assert len(rows) == 11 and all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]

def test_benchmarks_registered():
    from nnnotes.checks import BENCHMARKS
    import nnnotes.checks.backprop
    assert {("backprop", "mlp"), ("backprop", "var")} <= set(BENCHMARKS)

@pytest.mark.gpu
def test_registered_checks_pass_cuda():
    import nnnotes.checks.backprop
    rows = run_checks(device="cuda", sections=["backprop"])
    assert rows and all(r["passed"] for r in rows), [r for r in rows if not r["passed"]]
