"Cross-checks of nnnotes.estimators that do not belong in the prose: closed forms on small counts, scikit-bio parity, batches, errors, tracing."
import math
import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from nnnotes.estimators import (ENTROPY_METHODS, bootstrap_ci, contingency, coverage, entropy, hill_curve, hill_number,
                                mutual_information)
from nnnotes.checks.estimators import _ref_coverage, _ref_entropy, _ref_hill_chao, _samples

GIRDLED = np.array([46, 22, 17, 15, 15, 9, 8, 6, 6, 4, 2, 2, 2, 2] + [1] * 12)


def test_closed_forms_by_hand():
    "Small counts whose estimates can be written down."
    x = np.array([2, 1, 1])  # n = 4, f1 = 2, f2 = 1
    H = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert_allclose(entropy(x), H, rtol=1e-15)
    assert_allclose(entropy(x, "miller_madow"), H + 2 / 8, rtol=1e-15)
    assert_allclose(entropy(x, "laplace"), -sum(p * math.log(p) for p in (3 / 7, 2 / 7, 2 / 7)), rtol=1e-15)
    assert_allclose(entropy([2, 1, 1, 0], "jeffreys"),
                    -sum(p * math.log(p) for p in (2.5 / 6, 1.5 / 6, 1.5 / 6, 0.5 / 6)), rtol=1e-15)
    C = 1 - 2 / 4
    pa = [C * 0.5, C * 0.25, C * 0.25]
    assert_allclose(entropy(x, "chao_shen"), -sum(p * math.log(p) / (1 - (1 - p) ** 4) for p in pa), rtol=1e-15)
    assert_allclose(hill_number(x, 0, "chao"), 3 + 3 / 4 * 4 / 2, rtol=1e-15)  # S_obs + (n−1)/n f1²/(2 f2)
    assert_allclose(hill_number(x, 2, "chao"), 4 * 3 / 2, rtol=1e-15)  # n(n−1)/Σ x(x−1)
    assert_allclose(coverage(x), 1 - 2 / 4 * (3 * 2) / (3 * 2 + 2), rtol=1e-15)
    assert entropy([7]) == 0 and entropy([7], "chao") == 0 and hill_number([7], 0, "chao") == 1
    assert_allclose(hill_curve(x, 0, 1), 1.0, rtol=1e-15)  # one individual, one species


def test_against_references():
    for s in _samples()[:9]:
        for m in ENTROPY_METHODS:
            assert_allclose(entropy(s, m), _ref_entropy(s, m), rtol=1e-13, atol=1e-15)
        assert_allclose(coverage(s), _ref_coverage(s), rtol=1e-14)
    assert_allclose(hill_number(GIRDLED, 0.7, "chao"), _ref_hill_chao(GIRDLED, 0.7), rtol=1e-12)


def test_skbio_parity():
    "scikit-bio implements Chao1 (bias-corrected when f2 = 0), Shannon (plug-in), inverse Simpson, Good's coverage and Hill numbers."
    alpha = pytest.importorskip("skbio.diversity.alpha")
    for s in [GIRDLED, np.array([5, 3, 1, 1, 1, 0]), np.array([4, 1, 1, 1]), np.array([10, 2, 2, 1])]:
        s = s.astype(np.int64)
        assert_allclose(alpha.shannon(s), entropy(s), rtol=1e-14)
        assert_allclose(alpha.shannon(s, base=2), entropy(s, base=2), rtol=1e-14)
        assert_allclose(alpha.inv_simpson(s) if hasattr(alpha, "inv_simpson") else alpha.enspie(s), hill_number(s, 2), rtol=1e-14)
        assert_allclose(alpha.goods_coverage(s), 1 - (s == 1).sum() / s.sum(), rtol=1e-15)  # Good–Turing: ours adds a correction
        f1, f2, n = (s == 1).sum(), (s == 2).sum(), s.sum()
        # scikit-bio's chao1 omits the factor (n − 1)/n that iNEXT and Chao et al. (2014) use
        sk = alpha.chao1(s, bias_corrected=True)
        assert_allclose(sk, (s > 0).sum() + f1 * (f1 - 1) / (2 * (f2 + 1)), rtol=1e-14)
        assert_allclose(hill_number(s, 0, "chao") - (s > 0).sum(),
                        (n - 1) / n * (f1 ** 2 / (2 * f2) if f2 > 0 else f1 * (f1 - 1) / 2), rtol=1e-14)
        if hasattr(alpha, "hill"):
            for q in (0, 0.5, 1, 2, 3):
                assert_allclose(alpha.hill(s, order=q), hill_number(s, q), rtol=1e-12)


def test_batches_and_kinds():
    g = np.random.default_rng(0)
    x = g.poisson(g.lognormal(0, 1, (5, 40))); x[:, 0] += 1
    for m in ENTROPY_METHODS:
        assert_allclose(entropy(x, m), [entropy(r, m) for r in x], rtol=1e-14)
        assert_allclose(entropy(x.T, m, axis=0), entropy(x, m), rtol=1e-14)
        t = torch.tensor(x, dtype=torch.float32)
        assert entropy(t, m).dtype == torch.float32
        assert_allclose(entropy(t, m).numpy(), entropy(x, m), rtol=2e-5)
    for q in (0, 1, 2, 0.5, 2.5):
        assert_allclose(hill_number(x, q, "chao"), [hill_number(r, q, "chao") for r in x], rtol=1e-13)
    assert_allclose(hill_curve(x, 1, [3, 50, 500]), np.stack([hill_curve(r, 1, [3, 50, 500]) for r in x]), rtol=1e-13)
    assert isinstance(entropy([1, 2, 3]), (float, np.floating, np.ndarray)) and entropy(np.array([1, 2], np.int32)).dtype == np.float64


def test_mutual_information_and_contingency():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 3, 500), rng.integers(0, 4, 500)
    ct = contingency(a, b)
    assert ct.table.shape == (3, 4) and ct.table.sum() == 500 and list(ct.rows) == [0, 1, 2]
    assert_allclose(ct.table, np.histogram2d(a, b, bins=[3, 4])[0], rtol=0)
    n = 500
    I = mutual_information(ct.table)
    Hx, Hy, Hxy = entropy(ct.table.sum(1)), entropy(ct.table.sum(0)), entropy(ct.table.ravel())
    assert_allclose(I, Hx + Hy - Hxy, rtol=1e-12, atol=1e-15)
    sx, sy, sxy = (ct.table.sum(1) > 0).sum(), (ct.table.sum(0) > 0).sum(), (ct.table > 0).sum()
    assert_allclose(mutual_information(ct.table, "miller_madow"), I + ((sx - 1) + (sy - 1) - (sxy - 1)) / (2 * n), rtol=1e-12)
    labs = contingency(["b", "a", "b"], ["x", "x", "y"])
    assert list(labs.rows) == ["a", "b"] and labs.table.tolist() == [[1, 0], [1, 1]]


def test_bootstrap():
    ci = bootstrap_ci(GIRDLED, lambda c: hill_number(c, 2, "chao"), n_boot=50, seed=1)
    again = bootstrap_ci(GIRDLED, lambda c: hill_number(c, 2, "chao"), n_boot=50, seed=1)
    assert ci == again and ci.low < ci.estimate < ci.high and ci.se > 0
    assert_allclose(ci.high - ci.estimate, 1.959963984540054 * ci.se, rtol=1e-12)


@pytest.mark.parametrize("call, message", [
    (lambda: entropy([1, -2]), "counts: has negative entries"),
    (lambda: entropy([1.5, 2]), "counts: has entries that are not whole numbers"),
    (lambda: entropy([0, 0]), "counts: empty sample"),
    (lambda: entropy(np.ones((2, 0))), "counts: empty sample"),
    (lambda: entropy([1, 2], "bayes"), "method: must be one of"),
    (lambda: entropy([1, 2], axis=3), "axis: must be an integer"),
    (lambda: hill_number([1, 2], 1, "bayes"), "method: must be one of"),
    (lambda: hill_number([1, 2], -0.5), "order: must be a finite number"),
    (lambda: coverage([1, 2], 0), "size: sample sizes must be whole numbers"),
    (lambda: hill_curve([1, 2], 3.5, [10]), "order: extrapolation beyond the sample"),
    (lambda: mutual_information([1, 2]), "table: must have two axes"),
    (lambda: mutual_information([[1, -1], [2, 2]]), "table: has negative entries"),
    (lambda: contingency([1, 2, 3], [1, 2]), "x and y: lengths differ"),
    (lambda: bootstrap_ci([1, 2], entropy, n_boot=1), "n_boot: must be a whole number"),
])
def test_errors(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        call()


def test_traces():
    "Under torch.compile the value checks are skipped and nothing breaks the graph."
    import torch._dynamo
    torch._dynamo.reset()
    c = torch.tensor(np.random.default_rng(2).poisson(2, (3, 20)), dtype=torch.float64)
    f = torch.compile(lambda c: [entropy(c, m) for m in ENTROPY_METHODS] + [hill_number(c, q, "chao") for q in (0, 1, 2)]
                      + [coverage(c, [5, 100])], backend="aot_eager", fullgraph=True)
    ref = [entropy(c, m) for m in ENTROPY_METHODS] + [hill_number(c, q, "chao") for q in (0, 1, 2)] + [coverage(c, [5, 100])]
    for a, b in zip(f(c), ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)


@pytest.mark.gpu
def test_cuda_matches_cpu():
    x = torch.tensor(np.random.default_rng(3).poisson(2, (4, 50)), dtype=torch.float64)
    for m in ENTROPY_METHODS:
        torch.testing.assert_close(entropy(x.cuda(), m).cpu(), entropy(x, m), rtol=1e-12, atol=1e-14)
    for q in (0, 1, 2, 0.5):
        torch.testing.assert_close(hill_number(x.cuda(), q, "chao").cpu(), hill_number(x, q, "chao"), rtol=1e-12, atol=0)
