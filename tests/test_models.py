"""Models: exact parameter counts, forward shapes, seeded construction, flat views."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from electionlib import models


def test_lenet5_exact_parameter_count():
    m = models.lenet5()
    # conv1 6*1*25+6, conv2 16*6*25+16, fc 400*120+120, 120*84+84, 84*10+10
    assert models.n_params(m) == 156 + 2416 + 48120 + 10164 + 850 == 61706
    assert m(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
    m3 = models.lenet5(3, 10, input_size=32)
    assert models.n_params(m3) == 61706 + 2 * 6 * 25
    assert m3(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_resnet18_has_the_papers_dimension():
    m = models.resnet18()
    assert models.n_params(m) == 11_173_962  # Section 5.1: d = 11,173,962
    m.eval()
    with torch.no_grad():
        assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    bns = [mod for mod in m.modules() if isinstance(mod, torch.nn.BatchNorm2d)]
    assert len(bns) == 20 and all(float(b.running_var.min()) == 1.0 for b in bns)


def test_mlp_and_logreg_shapes():
    m = models.mlp(64, 10)
    assert models.n_params(m) == 64 * 64 + 64 + 64 * 10 + 10
    assert m(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    assert models.n_params(models.mlp(5, 3, hidden=(4, 2))) == 24 + 10 + 9
    lr = models.logreg(7)
    assert models.n_params(lr) == 8 and models.n_params(models.logreg(7, bias=False)) == 7
    assert lr(torch.zeros(3, 7)).shape == (3,)
    assert float(models.flat_params(lr).abs().sum()) == 0.0  # zero initialisation


def test_logreg_sparse_equals_dense(rng):
    x = sp.random(6, 30, density=0.2, format="csr", dtype=np.float32, random_state=1)
    y = torch.as_tensor(rng.integers(0, 2, 6), dtype=torch.float32)
    m = models.logreg(30)
    models.set_flat_params(m, torch.as_tensor(rng.normal(size=31), dtype=torch.float32))
    with warnings.catch_warnings():  # torch flags its CSR layout as "beta"
        warnings.simplefilter("ignore", UserWarning)
        csr = models.to_torch_sparse(x).to_sparse_csr()
    grads, outs = [], []
    for batch in (models.to_torch_sparse(x), torch.as_tensor(x.toarray()), x, csr):
        m.zero_grad()
        out = m(batch)
        torch.nn.functional.binary_cross_entropy_with_logits(out, y).backward()
        outs.append(out.detach())
        grads.append(models.flat_grad(m))
    for o, g in zip(outs[1:], grads[1:], strict=True):
        torch.testing.assert_close(o, outs[0])
        torch.testing.assert_close(g, grads[0])
    # features absent from the batch get exactly zero gradient
    absent = np.asarray(x.sum(axis=0)).ravel() == 0
    assert (grads[0][:30][torch.as_tensor(absent)] == 0).all()
    with pytest.raises(ValueError, match=r"\(N, 30\)"):
        m(torch.zeros(2, 29))


def test_seeded_construction_leaves_global_rng_alone():
    state = torch.get_rng_state()
    a = models.lenet5(seed=3)
    b = models.lenet5(seed=torch.Generator().manual_seed(3))
    c = models.lenet5(seed=4)
    assert torch.equal(torch.get_rng_state(), state)  # neither seeded nor consumed
    assert torch.equal(models.flat_params(a), models.flat_params(b))
    assert not torch.equal(models.flat_params(a), models.flat_params(c))
    # torch's default scale: conv1 weights within 1/sqrt(fan_in) (kaiming_uniform, a=sqrt(5))
    w = a.features[0].weight.detach()
    assert float(w.abs().max()) <= 1 / 5 + 1e-6 and float(w.std()) > 0.05


def test_flat_round_trips(rng):
    m = models.mlp(6, 3, hidden=(5,), seed=1)
    d = models.n_params(m)
    vec = torch.as_tensor(rng.normal(size=d), dtype=torch.float32)
    models.set_flat_params(m, vec)
    torch.testing.assert_close(models.flat_params(m), vec)
    models.set_flat_params(m, vec.numpy())  # numpy works too
    assert models.flat_params(m).shape == (d,)
    # flat_params is a copy
    p = models.flat_params(m)
    p.zero_()
    torch.testing.assert_close(models.flat_params(m), vec)
    # flat_grad: zeros before backward, then matches the per-parameter grads
    assert float(models.flat_grad(m).abs().sum()) == 0.0
    x = torch.as_tensor(rng.normal(size=(4, 6)), dtype=torch.float32)
    torch.nn.functional.cross_entropy(m(x), torch.tensor([0, 1, 2, 0])).backward()
    g = models.flat_grad(m)
    torch.testing.assert_close(g, torch.cat([q.grad.reshape(-1) for q in m.parameters()]))
    # a gradient step through the flat view equals a step on the parameters
    models.set_flat_params(m, models.flat_params(m) - 0.1 * g)
    torch.testing.assert_close(models.flat_params(m), vec - 0.1 * g)
    for bad in (torch.zeros(d + 1), torch.zeros(1, d)):
        with pytest.raises(ValueError, match=f"d={d}"):
            models.set_flat_params(m, bad)


@pytest.mark.parametrize(
    "dataset,name,expected",
    [("fmnist", "lenet", 61706), ("digits", "mlp", 4810), ("amazon", "logreg", 263501)],
)
def test_registry_defaults(dataset, name, expected):
    assert models.DEFAULT_MODEL[dataset] == name
    m = models.get(None, dataset, seed=0)
    assert models.n_params(m) == expected
    assert models.n_params(models.get(name, dataset)) == expected


def test_registry_cifar10_and_overrides():
    assert models.DEFAULT_MODEL["cifar10"] == "resnet18"
    assert models.n_params(models.get("lenet", "cifar10")) == 61706 + 300
    assert models.n_params(models.get("mlp", "digits", hidden=(10,))) == 650 + 110
    assert models.n_params(models.get("mlp", "fmnist", hidden=())) == 7850
    m = models.build("lenet5", in_channels=1, n_classes=10)
    assert models.n_params(m) == 61706


def test_registry_with_dataset_object():
    from electionlib import data

    ds = data.load("digits")
    m = models.get(None, ds)
    assert m(torch.as_tensor(ds.x_train[:5])).shape == (5, 10)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda: models.get("vgg", "fmnist"), "name='vgg'"),
        (lambda: models.get(None, "mnist"), "dataset='mnist'"),
        (lambda: models.get("lenet", "digits"), "28x28 or 32x32"),
        (lambda: models.get("lenet", "amazon"), "logreg"),
        (lambda: models.get("logreg", "fmnist"), "binary"),
        (lambda: models.build("mlp", d_in=3), "bad arguments"),
        (lambda: models.lenet5(input_size=30), "input_size=30"),
        (lambda: models.mlp(0, 10), "d_in=0"),
        (lambda: models.mlp(4, 1), "n_classes=1"),
        (lambda: models.mlp(4, 2, hidden=(0,)), r"hidden\[0\]=0"),
        (lambda: models.mlp(4, 2, hidden=5), "hidden=5"),
        (lambda: models.resnet18(seed=-1), "seed=-1"),
        (lambda: models.logreg(10, seed=1.5), "seed=1.5"),
        (lambda: models.to_torch_sparse(np.eye(2)), "scipy.sparse"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("input_size,channels", [(28, 1), (32, 3)])
def test_lenet5_inference_pooling_equals_max_pool2d(input_size, channels):
    # Evaluation takes the strided-maximum pooling; its logits must equal, bit for bit, those
    # of the layers run as built (max_pool2d), including ties (a constant image: every window
    # tied) and NaN.
    m = models.lenet5(channels, 10, input_size=input_size, seed=1)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(17, channels, input_size, input_size, generator=gen)
    x[3] = 0.5
    x[5, 0, 7, 9] = float("nan")
    with torch.no_grad():
        fast = m(x)
        slow = m.classifier(m.features(x))
    exact = dict(rtol=0, atol=0, equal_nan=True)
    torch.testing.assert_close(fast, slow, **exact)
    assert torch.isnan(fast[5]).all() and not torch.isnan(fast[4]).any()
    torch.testing.assert_close(models._max_pool_2x2(x), torch.nn.functional.max_pool2d(x, 2),
                               **exact)
    # odd sizes take max_pool2d itself; -0.0 / +0.0 and infinities keep their values
    signed = torch.tensor([[[[-0.0, 0.0], [-float("inf"), -1.0]]]])
    torch.testing.assert_close(models._max_pool_2x2(signed), torch.nn.functional.max_pool2d(
        signed, 2), rtol=0, atol=0)
    # with autograd on, the layers run as built: the backward is max_pool2d's
    y = m(x[:2].clone().requires_grad_(True))
    seen, stack = set(), [y.grad_fn]
    while stack:
        f = stack.pop()
        if f is not None and f not in seen:
            seen.add(f)
            stack += [g for g, _ in f.next_functions]
    names = {type(f).__name__ for f in seen}
    assert any("MaxPool2DWithIndices" in n for n in names), names
    assert not any(n.startswith("Maximum") for n in names), names


def test_buffers_round_trip_exactly_and_bad_lengths_are_refused():
    import numpy as np
    import torch

    from electionlib import models as M

    m = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, 3))
    vec = M.flat_buffers(m)
    assert vec.shape == (4 + 4 + 1,) and vec[-1] == 3  # mean, var, batches tracked
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    M.set_flat_buffers(fresh, vec)
    for a, b in zip(m.buffers(), fresh.buffers(), strict=True):
        assert a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert M.flat_buffers(torch.nn.Linear(2, 2)).shape == (0,)
    with pytest.raises(ValueError, match="9 buffer entries"):
        M.set_flat_buffers(fresh, np.zeros(8))


def test_loss_without_gradients_equals_the_gradient_pass_and_moves_batch_norm_alike():
    import copy

    import numpy as np
    import torch

    from electionlib import data, gradients
    from electionlib import models as M

    ds = data.load("digits")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 8), torch.nn.BatchNorm1d(8),
                              torch.nn.ReLU(), torch.nn.Linear(8, ds.n_classes))
    a = gradients.PartitionGradients(net, ds)
    b = gradients.PartitionGradients(copy.deepcopy(net), ds)
    assert a.path == "loop"
    w = M.flat_params(net)
    idx = np.arange(3 * 16).reshape(3, 16)
    assert a.loss(w, idx) == b(w, idx)[1]
    np.testing.assert_array_equal(M.flat_buffers(a.model), M.flat_buffers(b.model))
    assert all(p.grad is None for p in a.model.parameters())  # no backward pass ran
