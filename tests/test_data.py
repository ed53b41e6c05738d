"""Datasets (IDX reader, Fashion-MNIST, Amazon features, CIFAR-10 batches, digits),
partitions and the per-partition mini-batch sampler."""

import gzip
import hashlib
import json
import pickle
import struct
from math import comb
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from electionlib import data

FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
HAVE_FMNIST = all((FMNIST_DIR / f"{b}.gz").is_file() for b in data.FMNIST_FILES.values())
needs_fmnist = pytest.mark.skipif(
    not HAVE_FMNIST,
    reason="dataset-fashion-mnist not installed: apt-get install -y dataset-fashion-mnist",
)


def idx_bytes(arr: np.ndarray, code: int) -> bytes:
    """IDX encoding written independently of the library (big-endian header and data)."""
    dt = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[code]
    head = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + np.ascontiguousarray(arr, dtype=dt).tobytes()


# --------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize(
    "code,dtype", [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32),
                   (0x0D, np.float32), (0x0E, np.float64)]
)
@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, rng, code, dtype, gz):
    arr = (rng.integers(-100, 100, size=(3, 4, 5)) if code != 0x08
           else rng.integers(0, 256, size=(3, 4, 5))).astype(dtype)
    raw = idx_bytes(arr, code)
    path = tmp_path / ("a.idx.gz" if gz else "a.idx")
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)
    out = data.read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    np.testing.assert_array_equal(data.read_idx(raw, ndim=3), arr)


def test_idx_one_dim_and_byte_order():
    raw = struct.pack(">BBBBI", 0, 0, 0x0C, 1, 2) + struct.pack(">ii", 1, -2)
    np.testing.assert_array_equal(data.read_idx(raw), [1, -2])  # big-endian decoded


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda r: b"\x01" + r[1:], "magic"),
        (lambda r: r[:2] + b"\x07" + r[3:], "magic"),
        (lambda r: r[:3], "truncated"),
        (lambda r: r[:10], "truncated"),
        (lambda r: r[:-1], "truncated"),
        (lambda r: r + b"\x00", "trailing"),
        (lambda r: gzip.compress(r, mtime=0)[:-9], "gzip"),
    ],
)
def test_idx_rejects_bad_files(tmp_path, mutate, match):
    raw = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4), 0x08)
    path = tmp_path / "bad"
    path.write_bytes(mutate(raw))
    with pytest.raises(ValueError, match=match):
        data.read_idx(path)


def test_idx_wrong_ndim():
    raw = idx_bytes(np.arange(6, dtype=np.uint8), 0x08)
    with pytest.raises(ValueError, match="ndim=1, expected ndim=3"):
        data.read_idx(raw, ndim=3)


# --------------------------------------------------------------------------- Fashion-MNIST


def write_tiny_fmnist(folder: Path, rng, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for (split, part), base in data.FMNIST_FILES.items():
        n = 5 if split == "train" else 3
        if part == "images":
            arr = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
            raw = idx_bytes(arr, 0x08)
        else:
            arr = rng.integers(0, 10, size=n).astype(np.uint8)
            raw = idx_bytes(arr, 0x08)
        arrays[split, part] = arr
        if gz:
            (folder / f"{base}.gz").write_bytes(gzip.compress(raw, mtime=0))
        else:
            (folder / base).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_fmnist_reader_on_tiny_files(tmp_path, rng, monkeypatch, gz):
    monkeypatch.delenv("ELECTIONLIB_SKIP_CHECKSUM", raising=False)
    arrays = write_tiny_fmnist(tmp_path / "fashion-mnist", rng, gz=gz)
    # not the real files: the checksum check refuses them
    with pytest.raises(ValueError, match="sha256"):
        data.load("fmnist", root=tmp_path)
    for kwargs in ({"root": tmp_path, "verify": False},
                   {"root": tmp_path / "fashion-mnist", "verify": False}):
        ds = data.load("fmnist", normalize=False, **kwargs)
        assert ds.x_train.shape == (5, 1, 28, 28) and ds.x_test.shape == (3, 1, 28, 28)
        assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
        np.testing.assert_allclose(ds.x_train[:, 0] * 255, arrays["train", "images"], atol=1e-4)
        np.testing.assert_array_equal(ds.y_test, arrays["test", "labels"])
    ds_n = data.load("fmnist", root=tmp_path, verify=False)
    np.testing.assert_allclose(
        ds_n.x_train, (ds.x_train - data.FMNIST_MEAN) / data.FMNIST_STD, rtol=1e-5, atol=1e-5)
    # the environment variable skips the check too
    monkeypatch.setenv("ELECTIONLIB_SKIP_CHECKSUM", "1")
    assert data.load("fmnist", root=tmp_path).n_train == 5
    # $ELECTIONLIB_DATA/fashion-mnist is searched when root is None
    monkeypatch.setenv("ELECTIONLIB_DATA", str(tmp_path))
    assert data.load("fmnist").n_test == 3


def test_fmnist_missing_gives_install_instructions(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        data.load("fmnist", root=tmp_path)  # an explicit root is authoritative
    msg = str(err.value)
    assert "apt-get update && apt-get install -y dataset-fashion-mnist" in msg
    assert "ELECTIONLIB_DATA/fashion-mnist" in msg
    assert "train-images-idx3-ubyte.gz" in msg and "t10k-labels-idx1-ubyte.gz" in msg


@needs_fmnist
def test_fmnist_installed_files_match_recorded_checksums():
    for base in data.FMNIST_FILES.values():
        raw = (FMNIST_DIR / f"{base}.gz").read_bytes()
        assert hashlib.sha256(raw).hexdigest() == data.FMNIST_SHA256[f"{base}.gz"]
        assert hashlib.sha256(gzip.decompress(raw)).hexdigest() == data.FMNIST_SHA256[base]


@needs_fmnist
def test_fmnist_loads(monkeypatch):
    monkeypatch.delenv("ELECTIONLIB_DATA", raising=False)
    monkeypatch.delenv("ELECTIONLIB_SKIP_CHECKSUM", raising=False)
    ds = data.load("fmnist")
    assert ds.x_train.shape == (60000, 1, 28, 28) and ds.x_test.shape == (10000, 1, 28, 28)
    assert ds.x_train.dtype == np.float32
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert np.bincount(ds.y_train).tolist() == [6000] * 10
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
    assert ds.metric == "accuracy" and ds.n_classes == 10 and "sha256 verified" in ds.provenance
    # the documented constants standardise the training pixels
    assert abs(float(ds.x_train.mean())) < 1e-3 and abs(float(ds.x_train.std()) - 1) < 1e-3
    pixels = ds.x_train * data.FMNIST_STD + data.FMNIST_MEAN
    assert pixels.min() > -1e-5 and pixels.max() < 1 + 1e-5


# --------------------------------------------------------------------------- Amazon


@pytest.fixture(scope="module")
def amazon():
    return data.load("amazon")


def test_amazon_bundled_file_is_the_checksummed_csv():
    raw = (Path(data.__file__).parent / "_data" / "amazon_train.csv.gz").read_bytes()
    csv = gzip.decompress(raw)
    assert hashlib.sha256(csv).hexdigest() == data.AMAZON_CSV_SHA256
    assert csv.count(b"\n") == data.AMAZON_N_ROWS + 1  # header + 32,769 rows
    assert raw[4:8] == b"\x00\x00\x00\x00"  # gzip mtime 0: deterministic archive


def test_amazon_dimension_and_structure(amazon):
    ds = amazon
    assert ds.x_train.shape == (26325, 263500) and ds.x_test.shape == (6444, 263500)
    assert ds.meta["d"] == 263500  # Section 5.2: d = 263,500
    for x in (ds.x_train, ds.x_test):
        assert isinstance(x, sp.csr_matrix) and x.dtype == np.float32
        # 9 + 36 + 84 = 129 one-hot blocks: exactly one 1 in each block of each row
        assert (np.diff(x.indptr) == 9 + comb(9, 2) + comb(9, 3)).all()
        assert (x.data == 1).all()
    cols = ds.meta["columns"]
    assert len(cols) == 129
    assert [len(c["columns"]) for c in cols] == [1] * 9 + [2] * 36 + [3] * 84
    offsets = np.array([c["offset"] for c in cols] + [263500])
    assert (np.diff(offsets) == [c["width"] for c in cols]).all()
    block = np.searchsorted(offsets, ds.x_train.indices, side="right") - 1
    assert (block.reshape(-1, 129) == np.arange(129)).all()
    assert set(np.unique(ds.y_train)) == {0, 1} and set(np.unique(ds.y_test)) <= {0, 1}
    assert ds.metric == "auc" and ds.n_classes == 2
    # every category is used by some row (fitted on all rows, train + test)
    used = np.zeros(263500, bool)
    used[ds.x_train.indices] = True
    used[ds.x_test.indices] = True
    assert used.all()


def test_amazon_labels_follow_file_order(amazon):
    import pandas as pd

    raw = (Path(data.__file__).parent / "_data" / "amazon_train.csv.gz")
    y = pd.read_csv(raw)["ACTION"].to_numpy()
    np.testing.assert_array_equal(np.concatenate([amazon.y_train, amazon.y_test]), y)


def test_amazon_split_q():
    ds = data.load("amazon", q=28665)  # the n = 49 setting (Fig. 6b); cached features
    assert ds.x_train.shape == (28665, 263500) and ds.x_test.shape == (4104, 263500)
    for q in (0, 32769, 1.5):
        with pytest.raises(ValueError, match="q="):
            data.load("amazon", q=q)


def test_amazon_checksum_and_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.csv"):
        data.load("amazon", root=tmp_path)
    csv = gzip.decompress(
        (Path(data.__file__).parent / "_data" / "amazon_train.csv.gz").read_bytes())
    (tmp_path / "train.csv").write_bytes(csv.replace(b"\n1,39353", b"\n0,39353", 1))
    with pytest.raises(ValueError, match="sha256"):
        data.load("amazon", root=tmp_path)


def test_amazon_features_rare_merging():
    # column 0: value 7 x3 (frequent), 8 x2 (rare-2), 9 x1 (rare-1); other columns constant
    raw = np.zeros((6, 9), dtype=np.int64)
    raw[:, 0] = [7, 7, 7, 8, 8, 9]
    X, cols = data.amazon_features(raw)
    c0 = cols[0]
    assert c0["columns"] == ("RESOURCE",) and c0["width"] == 3 and c0["rare1"] and c0["rare2"]
    np.testing.assert_array_equal(X[:, :3].toarray(),
                                  [[1, 0, 0]] * 3 + [[0, 0, 1]] * 2 + [[0, 1, 0]])
    # every other column (constant, or a function of column 0) keeps its structure
    assert cols[1]["width"] == 1 and not cols[1]["rare1"] and not cols[1]["rare2"]
    assert all(c["width"] == (3 if "RESOURCE" in c["columns"] else 1) for c in cols)
    assert (np.diff(X.indptr) == 129).all()
    with pytest.raises(ValueError, match=r"\(N, 9\)"):
        data.amazon_features(np.zeros((3, 8), dtype=np.int64))


def test_amazon_subsample(amazon):
    a = data.load("amazon", subsample=100, rng=3)
    b = data.load("amazon", subsample=100, rng=np.random.default_rng(3))
    assert a.x_train.shape == (100, 263500) and a.x_test.shape == amazon.x_test.shape
    assert (a.x_train != b.x_train).nnz == 0


# --------------------------------------------------------------------------- CIFAR-10


def write_tiny_cifar(folder: Path, rng, n=4, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        m = n_test if name == "test_batch" else n
        batch = {b"data": rng.integers(0, 256, size=(m, 3072)).astype(np.uint8),
                 b"labels": rng.integers(0, 10, size=m).tolist(),
                 b"batch_label": name.encode()}
        with open(folder / name, "wb") as fh:
            pickle.dump(batch, fh, protocol=2)
        out[name] = batch
    return out


def test_cifar10_reader_on_tiny_files(tmp_path, rng, monkeypatch):
    batches = write_tiny_cifar(tmp_path / "cifar-10-batches-py", rng)
    ds = data.load("cifar10", root=tmp_path, normalize=False)
    assert ds.x_train.shape == (20, 3, 32, 32) and ds.x_test.shape == (3, 3, 32, 32)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    # channel-major rows of 3072 = 3 x 1024 (R, G, B planes), row-major 32 x 32
    first = batches["data_batch_1"][b"data"][0]
    np.testing.assert_allclose(ds.x_train[0, 1, 0, 5] * 255, first[1024 + 5], atol=1e-4)
    np.testing.assert_array_equal(ds.y_train[4:8], batches["data_batch_2"][b"labels"])
    ds_n = data.load("cifar10", root=tmp_path / "cifar-10-batches-py")
    mean = np.asarray(data.CIFAR10_MEAN, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(data.CIFAR10_STD, np.float32).reshape(1, 3, 1, 1)
    np.testing.assert_allclose(ds_n.x_test, (ds.x_test - mean) / std, rtol=1e-5, atol=1e-5)
    monkeypatch.setenv("ELECTIONLIB_DATA", str(tmp_path))
    assert data.load("cifar10").n_train == 20


def test_cifar10_missing_and_bad(tmp_path, rng, monkeypatch):
    monkeypatch.delenv("ELECTIONLIB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        data.load("cifar10")
    with pytest.raises(FileNotFoundError, match="data_batch_1"):
        data.load("cifar10", root=tmp_path)
    folder = tmp_path / "c"
    write_tiny_cifar(folder, rng)
    with open(folder / "test_batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, fh)
    with pytest.raises(ValueError, match=r"\(N, 3072\)"):
        data.load("cifar10", root=folder)


# --------------------------------------------------------------------------- digits


def test_digits():
    ds = data.load("digits")
    assert ds.x_train.shape == (1438, 1, 8, 8) and ds.x_test.shape == (359, 1, 8, 8)
    assert ds.x_train.dtype == np.float32 and 0 <= ds.x_train.min() and ds.x_train.max() <= 1
    assert ds.x_train.max() == 1.0
    assert set(np.unique(ds.y_test)) == set(range(10))
    again = data.load("digits")  # fixed split
    np.testing.assert_array_equal(ds.y_test, again.y_test)
    np.testing.assert_array_equal(ds.x_train, again.x_train)


def test_subsample_is_seeded():
    a = data.load("digits", subsample=50, rng=1)
    b = data.load("digits", subsample=50, rng=1)
    c = data.load("digits", subsample=50, rng=2)
    assert a.n_train == 50 and a.n_test == 359
    np.testing.assert_array_equal(a.x_train, b.x_train)
    assert not np.array_equal(a.x_train, c.x_train)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"name": "mnist"}, "name='mnist'"),
        ({"name": "digits", "subsample": 50}, "rng=None"),
        ({"name": "digits", "subsample": 0, "rng": 0}, "subsample=0"),
        ({"name": "digits", "subsample": 5000, "rng": 0}, r"subsample=5000.*\[1, 1438\]"),
        ({"name": "digits", "root": "/tmp"}, "root="),
        ({"name": "digits", "normalize": 1}, "normalize="),
    ],
)
def test_load_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.load(**kwargs)


# --------------------------------------------------------------------------- partitions


def test_partition():
    parts = data.partition(np.zeros(103, int), 10, rng=5)
    assert len(parts) == 10
    assert sorted(len(p) for p in parts) == [10] * 7 + [11] * 3
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(103))
    again = data.partition(np.zeros(103, int), 10, rng=np.random.default_rng(5))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    assert not all(np.array_equal(a, b) for a, b in
                   zip(parts, data.partition(np.zeros(103, int), 10, rng=6), strict=True))
    for (n, k), match in (((5, 6), "k=6"), ((0, 1), "labels must be"), ((5, 0), "k=0")):
        with pytest.raises(ValueError, match=match):
            data.partition(np.zeros(n, int), k, rng=0)


def test_iid_partition_is_the_split_every_stored_run_used():
    """scheme='iid' is, draw for draw, the seeded permutation cut into k pieces (the split of
    every i.i.d. result stored before the other schemes existed), whatever the labels."""
    y = np.random.default_rng(1).integers(0, 10, 1001)
    for k, seed in ((1, 0), (7, 3), (15, 11)):
        perm = np.random.default_rng(seed).permutation(1001)
        want = [np.sort(p) for p in np.array_split(perm, k)]
        got = data.partition(y, k, rng=np.random.default_rng(seed))
        assert all(np.array_equal(a, b) for a, b in zip(got, want, strict=True))
        assert all(p.dtype == np.int64 for p in got)


SCHEMES = [("iid", {}), ("dirichlet", {"alpha": 0.1}), ("dirichlet", {"alpha": 1.0}),
           ("dirichlet", {"alpha": float("inf")}), ("shards", {"labels_per_partition": 2}),
           ("shards", {"labels_per_partition": 1})]


@pytest.mark.parametrize("scheme,kw", SCHEMES)
@pytest.mark.parametrize("k", [1, 3, 15, 40])
def test_every_partition_scheme_covers_each_example_once(scheme, kw, k):
    y = np.random.default_rng(k).integers(0, 10, 600)
    parts = data.partition(y, k, rng=2, scheme=scheme, **kw)
    assert len(parts) == k and all(len(p) > 0 for p in parts)  # none empty
    assert all(p.dtype == np.int64 and np.all(np.diff(p) > 0) for p in parts)  # sorted
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(600))
    again = data.partition(y, k, rng=np.random.default_rng(2), scheme=scheme, **kw)
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    if k > 1:  # another seed, another split (alpha = inf too: its classes are shuffled)
        other = data.partition(y, k, rng=3, scheme=scheme, **kw)
        assert not all(np.array_equal(a, b) for a, b in zip(parts, other, strict=True))


def test_dirichlet_never_leaves_a_partition_empty():
    """alpha -> 0 sends every class whole to one partition: with 3 classes and k = 12 at
    least 8 partitions (12 less at most 4 that a nearly one-hot draw leaves a piece of a
    class) get no example from the split and are filled, one example each."""
    y = np.repeat([0, 1, 2], 50)
    for seed in range(20):
        parts = data.partition(y, 12, rng=seed, scheme="dirichlet", alpha=1e-3)
        sizes = sorted(len(p) for p in parts)
        assert sizes[0] >= 1 and sum(sizes) == 150
        assert sizes[:8] == [1] * 8  # each filled with exactly one example


def _class_share(y, parts):
    """Per class, the share of its examples held by the partition holding most of them."""
    mix = np.stack([np.bincount(y[p], minlength=10) for p in parts])  # (k, C) counts
    return (mix.max(axis=0) / mix.sum(axis=0)).mean()


def _distance_to_global(y, parts):
    """Mean total-variation distance of each partition's label mix to the global mix."""
    mix = data.label_mix(y, parts, n_classes=10)
    glob = np.bincount(y, minlength=10) / len(y)
    return 0.5 * np.abs(mix - glob).sum(axis=1).mean()


def test_dirichlet_skew_goes_from_single_partition_classes_to_the_global_mix():
    """alpha -> 0: each class lies (almost) whole in one partition, so each partition holds
    whole classes; alpha -> inf: every partition's label mix tends to the global one. The
    skew falls monotonically with alpha (means over 10 seeds)."""
    y = np.repeat(np.arange(10), 300)
    alphas = [1e-3, 0.1, 1.0, 10.0, 1e3]
    share, dist = [], []
    for a in alphas:
        runs = [data.partition(y, 10, rng=s, scheme="dirichlet", alpha=a) for s in range(10)]
        share.append(np.mean([_class_share(y, p) for p in runs]))
        dist.append(np.mean([_distance_to_global(y, p) for p in runs]))
    assert share[0] > 0.99 and share[-1] < 0.15  # one partition per class; about 1/10 each
    assert dist[-1] < 0.03  # the global mix
    assert all(a > b for a, b in zip(share, share[1:], strict=False))
    assert all(a > b for a, b in zip(dist, dist[1:], strict=False))
    exact = data.partition(y, 10, rng=0, scheme="dirichlet", alpha=float("inf"))
    np.testing.assert_allclose(data.label_mix(y, exact), 0.1)  # stratified: exactly 1/k


def test_shards_give_each_partition_its_labels():
    """Equal classes whose size is a multiple of the shard size: no shard straddles a class
    boundary, so every partition holds at most c labels (exactly c when its shards differ)."""
    y = np.repeat(np.arange(10), 60)  # 10 classes x 60; k c = 20 shards of 30
    for seed in range(5):
        parts = data.partition(y, 10, rng=seed, scheme="shards", labels_per_partition=2)
        assert all(len(np.unique(y[p])) <= 2 for p in parts)
        assert all(len(p) == 60 for p in parts)
    one = data.partition(y, 10, rng=0, scheme="shards", labels_per_partition=1)
    assert sorted(int(np.unique(y[p])[0]) for p in one) == list(range(10))


def test_partition_bad_arguments():
    y = np.zeros(20, int)
    cases = [
        (dict(scheme="dirichlet"), "needs alpha"),
        (dict(scheme="dirichlet", alpha=0.0), r"alpha=0.0 must lie in \(0"),
        (dict(scheme="dirichlet", alpha=-1), "alpha=-1"),
        (dict(scheme="iid", alpha=1.0), "applies to scheme='dirichlet' only"),
        (dict(scheme="shards"), "needs labels_per_partition"),
        (dict(scheme="shards", labels_per_partition=6),
         r"labels_per_partition=6 must be an integer in \[1, 5\]"),
        (dict(scheme="iid", labels_per_partition=2), "applies to scheme='shards' only"),
        (dict(scheme="stripes"), "scheme='stripes'"),
    ]
    for kw, match in cases:
        with pytest.raises(ValueError, match=match):
            data.partition(y, 4, rng=0, **kw)
    for bad, match in ((20, "must be the array of training labels"),
                       (np.zeros((4, 5), int), "1-D integer"), (np.zeros(5), "1-D integer")):
        with pytest.raises(ValueError, match=match):
            data.partition(bad, 2, rng=0)


def test_label_mix():
    y = np.array([0, 0, 1, 2])
    mix = data.label_mix(y, [np.array([0, 2]), np.array([1, 3])], n_classes=4)
    np.testing.assert_allclose(mix, [[0.5, 0.5, 0, 0], [0.5, 0, 0.5, 0]])
    for labels, parts, kw, match in (
            (np.array([0, -1]), [np.array([0])], {}, "labels must be >= 0"),
            (y, [np.array([0, 9])], {}, r"parts\[0\] must be a non-empty"),
            (y, [np.array([0]), np.array([], int)], {}, r"parts\[1\]"),
            (y, [np.array([0])], {"n_classes": 2}, "n_classes=2 must be an integer >= 3")):
        with pytest.raises(ValueError, match=match):
            data.label_mix(labels, parts, **kw)


def test_alpha_is_one_float_and_numpy_inf_is_inf():
    from electionlib.train import TrainConfig

    assert TrainConfig(partition="dirichlet", alpha=1) == TrainConfig(partition="dirichlet",
                                                                      alpha=1.0)
    assert TrainConfig(partition="dirichlet", alpha=np.float32("inf")).alpha == float("inf")
    y = np.repeat(np.arange(3), 10)
    a = data.partition(y, 5, rng=0, scheme="dirichlet", alpha=np.float64("inf"))
    b = data.partition(y, 5, rng=0, scheme="dirichlet", alpha=float("inf"))
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_is_reproducible(drop_last):
    parts = data.partition(np.zeros(50, int), 4, rng=0)
    a = data.PartitionSampler(parts, 3, rng=7, drop_last=drop_last)
    b = data.PartitionSampler(parts, 3, rng=np.random.default_rng(7), drop_last=drop_last)
    c = data.PartitionSampler(parts, 3, rng=8, drop_last=drop_last)
    xa = np.stack([a.next() for _ in range(20)])
    xb = np.stack([next(b) for _ in range(20)])
    xc = np.stack([c.next() for _ in range(20)])
    assert xa.shape == (20, 4, 3) and xa.dtype == np.int64
    np.testing.assert_array_equal(xa, xb)
    assert not np.array_equal(xa, xc)
    for j, p in enumerate(parts):  # indices come from their own partition
        assert np.isin(xa[:, j], p).all()


def test_sampler_epoch_coverage_stream():
    parts = [np.arange(10), np.arange(10, 17)]  # sizes 10 and 7, B = 3
    s = data.PartitionSampler(parts, 3, rng=0)
    draws = np.stack([s.next() for _ in range(70)])  # 210 draws per partition
    for j, p in enumerate(parts):
        stream = draws[:, j].reshape(-1)
        m = len(p)
        for e in range(len(stream) // m):  # each full pass is a permutation of the part
            assert sorted(stream[e * m:(e + 1) * m].tolist()) == p.tolist()
    assert s.epochs_completed == [21, 30]
    assert s.passes == pytest.approx(70 * 3 * 2 / 17)
    assert s.steps == 70
    # a batch larger than its partition spans several passes
    t = data.PartitionSampler([np.arange(2)], 5, rng=0)
    assert sorted(t.next()[0].tolist()[:4]) == [0, 0, 1, 1]


def test_sampler_epoch_coverage_drop_last():
    parts = [np.arange(10), np.arange(10, 17)]
    s = data.PartitionSampler(parts, 3, rng=0, drop_last=True)
    draws = np.stack([s.next() for _ in range(6)])
    # partition 0: 3 batches per pass (1 example dropped); partition 1: 2 batches per pass
    for j, per_pass in ((0, 3), (1, 2)):
        for e in range(6 // per_pass):
            chunk = draws[e * per_pass:(e + 1) * per_pass, j].reshape(-1)
            assert len(set(chunk.tolist())) == len(chunk)  # no repeats within a pass
    with pytest.raises(ValueError, match="batch=8"):
        data.PartitionSampler(parts, 8, rng=0, drop_last=True)


@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_state_round_trip(drop_last):
    parts = data.partition(np.zeros(40, int), 3, rng=1)
    s = data.PartitionSampler(parts, 4, rng=2, drop_last=drop_last)
    for _ in range(7):
        s.next()
    state = json.loads(json.dumps(s.get_state()))  # plain JSON data
    expected = [s.next() for _ in range(25)]
    t = data.PartitionSampler(parts, 4, rng=999, drop_last=drop_last)  # any rng
    t.set_state(state)
    assert t.steps == 7
    for e in expected:
        np.testing.assert_array_equal(t.next(), e)
    assert t.epochs_completed == s.epochs_completed and t.passes == s.passes


def test_sampler_bad_arguments():
    parts = data.partition(np.zeros(20, int), 2, rng=0)
    with pytest.raises(ValueError, match="batch=0"):
        data.PartitionSampler(parts, 0, rng=0)
    with pytest.raises(ValueError, match="rng=None"):
        data.PartitionSampler(parts, 2, rng=None)
    with pytest.raises(ValueError, match=r"parts\[1\]"):
        data.PartitionSampler([np.arange(3), np.array([], dtype=int)], 2, rng=0)
    with pytest.raises(ValueError, match="at least one"):
        data.PartitionSampler([], 2, rng=0)
    s = data.PartitionSampler(parts, 2, rng=0)
    state = s.get_state()
    with pytest.raises(ValueError, match="batch"):
        data.PartitionSampler(parts, 3, rng=0).set_state(state)
    bad = dict(state, perms=[[0] * 10, state["perms"][1]])
    with pytest.raises(ValueError, match="permutation"):
        s.set_state(bad)
    with pytest.raises(ValueError, match="format"):
        s.set_state({"sizes": [10, 10]})
