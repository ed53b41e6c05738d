"""Datasets of the paper's experiments; their partitions and mini-batches are in
:mod:`electionlib.sampling`.

:func:`load` returns a :class:`Dataset` for one of

========== ============================================== ======== ===============
name       source                                         metric   x_train
========== ============================================== ======== ===============
fmnist     Fashion-MNIST IDX files (Debian package        accuracy (60000, 1, 28, 28)
           ``dataset-fashion-mnist`` or user files)
amazon     Kaggle Amazon Employee Access, bundled with    auc      CSR (26325, 263500)
           this package (``electionlib/_data``)
cifar10    CIFAR-10 "python version" batches supplied      accuracy (50000, 3, 32, 32)
           by the user (not downloadable here)
digits     scikit-learn's bundled 8x8 digits (offline     accuracy (1438, 1, 8, 8)
           default that always works)
========== ============================================== ======== ===============

Nothing is downloaded and no dataset is ever substituted for another: a missing
dataset raises :class:`FileNotFoundError` saying how to install it.

:func:`partition` splits the training examples into ``k`` data partitions (the
paper's ``D_1..D_k``, Section 2) and :class:`PartitionSampler` draws the next
mini-batch of ``B`` examples from every partition (``B`` is the batch size *per
partition*, as in Section 5 and Table B.2).

Reference: Section 5 (experiments: CIFAR-10/ResNet-18, Amazon/logistic regression
with d = 263,500 and q = 26,325 or 28,665), supplement Section B (Table B.2).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import importlib.resources
import io
import itertools
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from . import _validate as v

# the partitions live in their own module
from .sampling import PARTITION_SCHEMES, PartitionSampler, label_mix, partition

__all__ = [
    "DATASETS",
    "Dataset",
    "load",
    "read_idx",
    "amazon_features",
    "partition",
    "PARTITION_SCHEMES",
    "label_mix",
    "PartitionSampler",
    "FMNIST_FILES",
    "FMNIST_SHA256",
    "FMNIST_MEAN",
    "FMNIST_STD",
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "AMAZON_CSV_SHA256",
    "AMAZON_N_ROWS",
    "AMAZON_COLUMNS",
    "AMAZON_Q_DEFAULT",
    "DIGITS_SPLIT_SEED",
]

DATASETS = ("fmnist", "amazon", "cifar10", "digits")

#: Environment variable naming a folder with ``fashion-mnist/`` and ``cifar-10-batches-py/``.
ENV_DATA = "ELECTIONLIB_DATA"
#: Set this environment variable to ``1`` to skip sha256 verification (same as ``verify=False``).
ENV_SKIP_CHECKSUM = "ELECTIONLIB_SKIP_CHECKSUM"

# --------------------------------------------------------------------------- Fashion-MNIST

FMNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_INSTALL = "apt-get update && apt-get install -y dataset-fashion-mnist"

#: The four IDX files (split, part) -> file name without ``.gz``.
FMNIST_FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}

#: sha256 of each file as installed by the Debian package ``dataset-fashion-mnist``
#: (0.0~git20200523.55506a9-1, the files of zalandoresearch/fashion-mnist), both of
#: the ``.gz`` file and of its decompressed content (either form is accepted).
FMNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7"
    ),
    "train-labels-idx1-ubyte.gz": (
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"
    ),
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}

#: Per-pixel mean and standard deviation of the 60,000 Fashion-MNIST training
#: images scaled to [0, 1] (computed over all 47,040,000 pixels: 0.28604, 0.35302).
FMNIST_MEAN = 0.2860
FMNIST_STD = 0.3530

# --------------------------------------------------------------------------- CIFAR-10

CIFAR10_DIRNAME = "cifar-10-batches-py"
CIFAR10_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_FILE = "test_batch"
#: Per-channel (R, G, B) mean and standard deviation of the CIFAR-10 training
#: images scaled to [0, 1] (over all 50,000 x 32 x 32 pixels of each channel).
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)

# --------------------------------------------------------------------------- Amazon

#: sha256 of the uncompressed Kaggle ``train.csv`` (32,769 rows + header).
AMAZON_CSV_SHA256 = "c50b119438fb8c8e84b2ddb9c0a28c76cb01afa3dc78b920cfea36eb506843a7"
AMAZON_N_ROWS = 32769
#: The 9 categorical feature columns, in file order (the label column is ACTION).
AMAZON_COLUMNS = (
    "RESOURCE",
    "MGR_ID",
    "ROLE_ROLLUP_1",
    "ROLE_ROLLUP_2",
    "ROLE_DEPTNAME",
    "ROLE_TITLE",
    "ROLE_FAMILY_DESC",
    "ROLE_FAMILY",
    "ROLE_CODE",
)
#: Training rows of Fig. 6a (n = 15); Fig. 6b (n = 49) uses q = 28,665.
AMAZON_Q_DEFAULT = 26325
AMAZON_BUNDLED = "amazon_train.csv.gz"

# --------------------------------------------------------------------------- digits

#: Seed of the fixed, stratified digits train/test split: per class, round(20% of its
#: examples) go to test, 1438 train / 359 test.
DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split with its metadata.

    Attributes:
        name: one of :data:`DATASETS`.
        x_train: ``(n_train, ...)`` float32 array (images ``(N, C, H, W)``), or a
            ``scipy.sparse.csr_matrix`` ``(n_train, d)`` float32 for Amazon.
        y_train: ``(n_train,)`` int64 labels in ``[0, n_classes)``.
        x_test: ``(n_test, ...)``, like ``x_train``.
        y_test: ``(n_test,)`` int64.
        n_classes: number of classes (2 for Amazon: one logit, labels in {0, 1}).
        metric: ``"accuracy"`` or ``"auc"`` (Amazon, Fig. 6).
        provenance: where the data came from and how it was checked.
        meta: dataset-specific details (normalisation, feature layout, build time).
    """

    name: str
    x_train: np.ndarray | sp.csr_matrix
    y_train: np.ndarray
    x_test: np.ndarray | sp.csr_matrix
    y_test: np.ndarray
    n_classes: int
    metric: str
    provenance: str
    meta: dict = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]

    @property
    def n_test(self) -> int:
        return self.x_test.shape[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(1, 28, 28)`` or ``(263500,)``."""
        return tuple(self.x_train.shape[1:])

    def __repr__(self) -> str:
        kind = "csr" if sp.issparse(self.x_train) else str(self.x_train.dtype)
        return (
            f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
            f"input_shape={self.input_shape}, x={kind}, n_classes={self.n_classes}, "
            f"metric={self.metric!r})"
        )


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    subsample: int | None = None,
    rng=None,
    normalize: bool = True,
    verify: bool = True,
    q: int = AMAZON_Q_DEFAULT,
) -> Dataset:
    """Load a dataset of the paper's experiments.

    Where the files are looked for:

    * ``fmnist``: ``root`` if given (the folder holding the four IDX files, or its
      parent holding ``fashion-mnist/``), else ``$ELECTIONLIB_DATA/fashion-mnist``,
      else ``/usr/share/datasets/fashion-mnist`` (Debian ``dataset-fashion-mnist``).
      An explicit ``root`` is authoritative: if it lacks the files, nothing else
      is tried. Files may be gzipped (as shipped) or not; their sha256 is checked
      against :data:`FMNIST_SHA256`.
    * ``cifar10``: ``root`` (folder of the batches, or its parent holding
      ``cifar-10-batches-py/``), else ``$ELECTIONLIB_DATA/cifar-10-batches-py``.
    * ``amazon``: the copy bundled in ``electionlib/_data`` (or ``root`` holding
      ``train.csv`` or ``amazon_train.csv.gz``); sha256 of the csv is checked. The
      features are those of :func:`amazon_features` (d = 263,500), with encoders
      fitted on ALL 32,769 rows, train and test together, as the paper's reference
      implementation does; the first ``q`` rows are then the training set. The
      matrix is built once per process (in-process ``lru_cache``; about 1 s).
    * ``digits``: scikit-learn's bundled copy (``root`` must be None).

    Args:
        name: one of ``"fmnist"``, ``"amazon"``, ``"cifar10"``, ``"digits"``.
        root: optional folder with the dataset files (see above).
        subsample: keep only this many training examples, drawn uniformly without
            replacement with ``rng`` (kept in their original order); the test set
            is never subsampled. None keeps all.
        rng: ``numpy.random.Generator`` or seed; required iff ``subsample`` is set.
        normalize: fmnist / cifar10 only: standardise pixels with
            :data:`FMNIST_MEAN`/:data:`FMNIST_STD` (per channel
            :data:`CIFAR10_MEAN`/:data:`CIFAR10_STD`) after scaling to [0, 1];
            ``False`` leaves them in [0, 1]. Digits are always in [0, 1].
        verify: check sha256 checksums (fmnist, amazon); also disabled by the
            environment variable ``ELECTIONLIB_SKIP_CHECKSUM=1``.
        q: amazon only: the first ``q`` of the 32,769 rows are the training set,
            the rest the test set (26,325 in Fig. 6a, 28,665 in Fig. 6b).

    Returns:
        A :class:`Dataset`.

    Example:
        >>> ds = load("digits")
        >>> ds.x_train.shape, ds.x_test.shape, ds.metric
        ((1438, 1, 8, 8), (359, 1, 8, 8), 'accuracy')
        >>> load("digits", subsample=100, rng=0).n_train
        100

    Reference: Section 5 (datasets of the experiments).
    """
    v.choice("name", name, DATASETS)
    if not isinstance(normalize, bool):
        raise ValueError(f"normalize={normalize!r} must be True or False")
    if not isinstance(verify, bool):
        raise ValueError(f"verify={verify!r} must be True or False")
    verify = verify and os.environ.get(ENV_SKIP_CHECKSUM, "") not in ("1", "true", "yes")
    if subsample is not None:
        subsample = v.integer("subsample", subsample, lo=1)
        gen = v.rng(rng)
    elif rng is not None:
        v.rng(rng)  # validate anyway; unused without subsample
    if name == "fmnist":
        ds = _load_fmnist(root, normalize=normalize, verify=verify)
    elif name == "cifar10":
        ds = _load_cifar10(root, normalize=normalize)
    elif name == "amazon":
        ds = _load_amazon(root, q=q, verify=verify)
    else:
        if root is not None:
            raise ValueError(f"root={root!r} must be None for 'digits' (scikit-learn's copy)")
        ds = _load_digits()
    if subsample is None:
        return ds
    if subsample > ds.n_train:
        raise ValueError(
            f"subsample={subsample} must be an integer in [1, {ds.n_train}] "
            f"(training examples of {name!r})"
        )
    keep = np.sort(gen.choice(ds.n_train, size=subsample, replace=False))
    meta = dict(ds.meta, subsample=subsample)
    return Dataset(
        name=ds.name,
        x_train=ds.x_train[keep],
        y_train=ds.y_train[keep],
        x_test=ds.x_test,
        y_test=ds.y_test,
        n_classes=ds.n_classes,
        metric=ds.metric,
        provenance=ds.provenance + f"; training set subsampled to {subsample} examples",
        meta=meta,
    )


# =========================================================================== IDX


_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(source, *, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format), gzipped or not.

    Layout: magic ``0x00 0x00 <dtype code> <ndim>``, then ``ndim`` big-endian
    uint32 dimensions, then the big-endian data in C order. Dtype codes:
    0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64.
    Gzip is recognised by its magic bytes ``1f 8b``, not by the file name.

    Args:
        source: path to the file, or its content as ``bytes``.
        ndim: if given, the number of dimensions the file must have.

    Returns:
        Array of the stored shape, in native byte order (uint8 for images/labels).

    Raises:
        ValueError: bad magic number, unknown dtype code, wrong ``ndim``, a
            truncated file or trailing bytes.

    Example:
        >>> import struct
        >>> raw = struct.pack(">BBBBI", 0, 0, 0x08, 1, 3) + bytes([7, 8, 9])
        >>> read_idx(raw)
        array([7, 8, 9], dtype=uint8)
    """
    if isinstance(source, bytes | bytearray | memoryview):
        raw, what = bytes(source), "IDX data"
    else:
        path = Path(source)
        raw, what = path.read_bytes(), str(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise ValueError(f"{what}: corrupt or truncated gzip stream ({exc})") from exc
    if len(raw) < 4:
        raise ValueError(f"{what}: truncated IDX file ({len(raw)} bytes, header needs 4)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{what}: bad IDX magic number 0x{raw[:4].hex()} (expected 0x0000TTNN with "
            f"type TT in {{08, 09, 0b, 0c, 0d, 0e}})"
        )
    dtype, nd = _IDX_DTYPES[raw[2]], raw[3]
    if ndim is not None and nd != ndim:
        raise ValueError(f"{what}: IDX file has ndim={nd}, expected ndim={ndim}")
    header = 4 + 4 * nd
    if len(raw) < header:
        raise ValueError(f"{what}: truncated IDX header ({len(raw)} bytes < {header})")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">u4", count=nd, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        kind = "truncated" if len(raw) < expected else "has trailing bytes:"
        raise ValueError(
            f"{what}: IDX file {kind} {len(raw)} bytes, shape {shape} of {dtype.name} "
            f"needs exactly {expected}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="))


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fmnist_dir(root) -> tuple[Path, dict[str, Path]]:
    """Find the folder with the 4 Fashion-MNIST files; map base name -> file."""
    if root is not None:
        candidates = [Path(root), Path(root) / "fashion-mnist"]
    else:
        candidates = []
        if os.environ.get(ENV_DATA):
            candidates.append(Path(os.environ[ENV_DATA]) / "fashion-mnist")
        candidates.append(FMNIST_SYSTEM_DIR)
    for folder in candidates:
        found = {}
        for base in FMNIST_FILES.values():
            for fname in (base + ".gz", base):
                if (folder / fname).is_file():
                    found[base] = folder / fname
                    break
        if len(found) == len(FMNIST_FILES):
            return folder, found
    names = ", ".join(b + ".gz" for b in FMNIST_FILES.values())
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(
        f"Fashion-MNIST not found (looked in: {looked}). Install the Debian package, as root:\n"
        f"    {FMNIST_INSTALL}\n"
        f"which puts the files in {FMNIST_SYSTEM_DIR}; or put the four files {names} "
        f"(gzipped or not) in $ELECTIONLIB_DATA/fashion-mnist, or pass root=<that folder>."
    )


def _load_fmnist(root, *, normalize: bool, verify: bool) -> Dataset:
    """Fashion-MNIST, parsed once per process per (folder, normalize, verify)."""
    folder, _ = _fmnist_dir(root)
    return _load_fmnist_cached(str(folder), normalize, verify)


@functools.lru_cache(maxsize=2)
def _load_fmnist_cached(folder: str, normalize: bool, verify: bool) -> Dataset:
    return _load_fmnist_uncached(folder, normalize=normalize, verify=verify)


def _load_fmnist_uncached(root, *, normalize: bool, verify: bool) -> Dataset:
    folder, files = _fmnist_dir(root)
    arrays = {}
    for (split, part), base in FMNIST_FILES.items():
        path = files[base]
        raw = path.read_bytes()
        if verify:
            got = _sha256(raw)
            if got != FMNIST_SHA256[path.name]:
                raise ValueError(
                    f"{path}: sha256 {got} does not match the expected "
                    f"{FMNIST_SHA256[path.name]} for {path.name} (corrupt or a different "
                    f"file; reinstall with `{FMNIST_INSTALL}`, or skip the check with "
                    f"verify=False or {ENV_SKIP_CHECKSUM}=1)"
                )
        arrays[split, part] = read_idx(raw, ndim=3 if part == "images" else 1)
    out = {}
    for split in ("train", "test"):
        images, labels = arrays[split, "images"], arrays[split, "labels"]
        if images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(
                f"Fashion-MNIST {split} files in {folder} have images {images.shape} and "
                f"labels {labels.shape}; expected (N, 28, 28) and (N,)"
            )
        x = images.astype(np.float32).reshape(-1, 1, 28, 28) / np.float32(255.0)
        if normalize:
            x = (x - np.float32(FMNIST_MEAN)) / np.float32(FMNIST_STD)
        out[split] = (x, labels.astype(np.int64))
    return Dataset(
        name="fmnist",
        x_train=out["train"][0],
        y_train=out["train"][1],
        x_test=out["test"][0],
        y_test=out["test"][1],
        n_classes=10,
        metric="accuracy",
        provenance=(
            f"Fashion-MNIST (Xiao, Rasul, Vollgraf 2017), IDX files from {folder}"
            + ("; sha256 verified" if verify else "; sha256 NOT verified")
        ),
        meta={
            "normalize": normalize,
            "mean": FMNIST_MEAN if normalize else 0.0,
            "std": FMNIST_STD if normalize else 1.0,
        },
    )


# =========================================================================== CIFAR-10


def _cifar_dir(root) -> Path:
    if root is not None:
        candidates = [Path(root), Path(root) / CIFAR10_DIRNAME]
    else:
        candidates = []
        if os.environ.get(ENV_DATA):
            candidates.append(Path(os.environ[ENV_DATA]) / CIFAR10_DIRNAME)
    wanted = (*CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE)
    for folder in candidates:
        if all((folder / f).is_file() for f in wanted):
            return folder
    looked = ", ".join(str(c) for c in candidates) or "nowhere: root is None and $"
    if not candidates:
        looked += f"{ENV_DATA} is unset"
    raise FileNotFoundError(
        f"CIFAR-10 not found (looked in: {looked}). CIFAR-10 cannot be downloaded here: "
        f"obtain the 'CIFAR-10 python version' archive (cifar-10-python.tar.gz, "
        f"https://www.cs.toronto.edu/~kriz/cifar.html) yourself, extract it so that "
        f"$ELECTIONLIB_DATA/{CIFAR10_DIRNAME}/ holds {', '.join(wanted)}, "
        f"or pass root=<that folder>."
    )


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    # pickle is used ONLY for the user's own local CIFAR-10 files, in the format the
    # dataset is distributed in; it is never applied to anything received over a network.
    with open(path, "rb") as fh:
        try:
            batch = pickle.load(fh, encoding="bytes")
        except Exception as exc:  # any unpickling failure means a bad file
            raise ValueError(f"{path}: not a CIFAR-10 python batch file ({exc})") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a pickled dict, got {type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: batch dict lacks b'data' or b'labels'")
    data = np.asarray(data)
    labels = np.asarray(labels, dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise ValueError(
            f"{path}: b'data' must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}"
        )
    if labels.shape != (data.shape[0],) or labels.min(initial=0) < 0 or labels.max(
        initial=0
    ) > 9:
        raise ValueError(f"{path}: b'labels' must be N={data.shape[0]} integers in [0, 9]")
    return data, labels


def _load_cifar10(root, *, normalize: bool) -> Dataset:
    folder = _cifar_dir(root)
    parts = [_read_cifar_batch(folder / f) for f in CIFAR10_TRAIN_FILES]
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = _read_cifar_batch(folder / CIFAR10_TEST_FILE)

    def prep(x):
        x = x.reshape(-1, 3, 32, 32).astype(np.float32) / np.float32(255.0)
        if normalize:
            mean = np.asarray(CIFAR10_MEAN, np.float32).reshape(1, 3, 1, 1)
            std = np.asarray(CIFAR10_STD, np.float32).reshape(1, 3, 1, 1)
            x = (x - mean) / std
        return x

    return Dataset(
        name="cifar10",
        x_train=prep(x_tr),
        y_train=y_tr,
        x_test=prep(x_te),
        y_test=y_te,
        n_classes=10,
        metric="accuracy",
        provenance=f"CIFAR-10 (Krizhevsky 2009), user-supplied python batches from {folder}",
        meta={
            "normalize": normalize,
            "mean": CIFAR10_MEAN if normalize else (0.0, 0.0, 0.0),
            "std": CIFAR10_STD if normalize else (1.0, 1.0, 1.0),
        },
    )


# =========================================================================== digits


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = bunch.target.astype(np.int64)
    gen = np.random.default_rng(DIGITS_SPLIT_SEED)
    test = []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        n_test = int(round(DIGITS_TEST_FRACTION * len(idx)))
        test.append(gen.permutation(idx)[:n_test])
    is_test = np.zeros(len(y), bool)
    is_test[np.concatenate(test)] = True
    return Dataset(
        name="digits",
        x_train=x[~is_test],
        y_train=y[~is_test],
        x_test=x[is_test],
        y_test=y[is_test],
        n_classes=10,
        metric="accuracy",
        provenance=(
            "scikit-learn load_digits (UCI optical recognition of handwritten digits, "
            f"1797 8x8 images, pixels /16); fixed stratified split: per class, "
            f"round({DIGITS_TEST_FRACTION} * count) examples to test, chosen with "
            f"numpy default_rng({DIGITS_SPLIT_SEED})"
        ),
        meta={"split_seed": DIGITS_SPLIT_SEED, "test_fraction": DIGITS_TEST_FRACTION},
    )


# =========================================================================== Amazon


def _amazon_csv_bytes(root, verify: bool) -> tuple[bytes, str]:
    if root is not None:
        folder = Path(root)
        for fname in ("train.csv", AMAZON_BUNDLED):
            if (folder / fname).is_file():
                raw, where = (folder / fname).read_bytes(), str(folder / fname)
                break
        else:
            raise FileNotFoundError(
                f"Amazon Employee Access data not found in root={str(root)!r}: expected "
                f"train.csv or {AMAZON_BUNDLED} there (or pass root=None for the copy "
                f"bundled with electionlib)"
            )
    else:
        res = importlib.resources.files("electionlib") / "_data" / AMAZON_BUNDLED
        if not res.is_file():
            raise FileNotFoundError(
                f"electionlib/_data/{AMAZON_BUNDLED} is missing from this installation: "
                f"reinstall electionlib (the file is package data)"
            )
        raw, where = res.read_bytes(), f"electionlib/_data/{AMAZON_BUNDLED}"
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if verify and _sha256(raw) != AMAZON_CSV_SHA256:
        raise ValueError(
            f"{where}: sha256 of the csv is {_sha256(raw)}, expected {AMAZON_CSV_SHA256} "
            f"(corrupt or a different file; skip with verify=False or {ENV_SKIP_CHECKSUM}=1)"
        )
    return raw, where


def amazon_features(raw: np.ndarray) -> tuple[sp.csr_matrix, list[dict]]:
    """The paper's Amazon feature map: one-hot of 129 categorical columns, rare values merged.

    Steps, for an ``(N, 9)`` integer table of the 9 feature columns
    (:data:`AMAZON_COLUMNS`, all columns except ACTION):

    1. Every combination of 1, 2 and 3 of the 9 columns is one categorical
       column: ``9 + C(9,2) + C(9,3) = 9 + 36 + 84 = 129`` columns (combinations
       of 2 or 3 are the tuple of the original values, joined exactly, no
       hashing). ROLE_TITLE and ROLE_CODE are in one-to-one correspondence in
       this data; both are kept, and so are the combinations containing both.
    2. In each of the 129 columns, values occurring in 3 or more rows keep their
       own category (ordered by value); all values occurring exactly once are
       merged into one category "rare-1", and all values occurring exactly twice
       into another, "rare-2" (each exists only if such values exist).
    3. One-hot encoding: column ``c`` occupies a contiguous block of width
       ``n_frequent + [rare-1 exists] + [rare-2 exists]``; blocks are laid out in
       the order degree 1, 2, 3, combinations in lexicographic order.

    Counts are taken over all ``N`` rows passed in. On the full 32,769 rows this
    gives ``d = 263,500`` features (the paper's model dimension, Section 5.2)
    and every row has exactly 129 ones.

    Args:
        raw: ``(N, 9)`` integer array.

    Returns:
        ``(X, columns)``: ``X`` a ``(N, d)`` float32 CSR matrix with 129 ones per
        row (sorted indices), ``columns`` a list of 129 dicts
        ``{"columns": tuple of names, "offset": int, "width": int, "rare1": bool,
        "rare2": bool}``.

    Example:
        >>> raw = np.array([[1, 5, 0, 0, 0, 0, 0, 0, 0]] * 3 + [[2, 5, 0, 0, 0, 0, 0, 0, 1]])
        >>> X, cols = amazon_features(raw)
        >>> X.shape, int(X.sum(axis=1).min()), cols[0]["width"]  # RESOURCE: {1}, rare-1
        ((4, 195), 129, 2)

    Reference: Section 5.2 (logistic regression, "one-hot encoding with
    interaction terms", d = 263,500).
    """
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] != len(AMAZON_COLUMNS) or raw.shape[0] < 1:
        raise ValueError(f"raw must be an (N, 9) integer array with N >= 1, got {raw.shape}")
    if not np.issubdtype(raw.dtype, np.integer):
        raise ValueError(f"raw must hold integers, got dtype {raw.dtype}")
    n, m = raw.shape
    # label-encode each column: codes in [0, card)
    enc, card = [], []
    for j in range(m):
        uniq, inv = np.unique(raw[:, j], return_inverse=True)
        enc.append(inv.reshape(-1).astype(np.int64))
        card.append(len(uniq))
    combos = [c for deg in (1, 2, 3) for c in itertools.combinations(range(m), deg)]
    indices = np.empty((n, len(combos)), dtype=np.int64)
    columns, offset = [], 0
    for col, combo in enumerate(combos):
        key = enc[combo[0]].copy()
        for j in combo[1:]:  # mixed radix: exact joint value, < prod(card) < 2**63 here
            key = key * card[j] + enc[j]
        _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
        frequent = counts >= 3
        n_freq = int(frequent.sum())
        has1, has2 = bool((counts == 1).any()), bool((counts == 2).any())
        remap = np.empty(len(counts), dtype=np.int64)
        remap[frequent] = np.arange(n_freq)
        remap[counts == 1] = n_freq
        remap[counts == 2] = n_freq + has1
        indices[:, col] = offset + remap[inv.reshape(-1)]
        width = n_freq + has1 + has2
        columns.append(
            {
                "columns": tuple(AMAZON_COLUMNS[j] for j in combo),
                "offset": offset,
                "width": width,
                "rare1": has1,
                "rare2": has2,
            }
        )
        offset += width
    k = len(combos)
    X = sp.csr_matrix(
        (np.ones(n * k, np.float32), indices.reshape(-1), np.arange(0, n * k + 1, k)),
        shape=(n, offset),
    )
    X.has_sorted_indices = True
    return X, columns


@functools.lru_cache(maxsize=2)
def _amazon_all(root_key: str | None, verify: bool):
    """Parse and featurise all 32,769 rows once per process (about 1 s)."""
    import pandas as pd

    raw, where = _amazon_csv_bytes(root_key, verify)
    t0 = time.perf_counter()
    df = pd.read_csv(io.BytesIO(raw))
    expected = ["ACTION", *AMAZON_COLUMNS]
    if list(df.columns) != expected or len(df) != AMAZON_N_ROWS:
        raise ValueError(
            f"{where}: expected {AMAZON_N_ROWS} rows with columns {expected}, got "
            f"{len(df)} rows with {list(df.columns)}"
        )
    y = df["ACTION"].to_numpy(np.int64)
    X, columns = amazon_features(df[list(AMAZON_COLUMNS)].to_numpy(np.int64))
    return X, y, columns, where, time.perf_counter() - t0


def _load_amazon(root, *, q: int, verify: bool) -> Dataset:
    """Amazon Employee Access with the feature map of :func:`amazon_features`.

    The encoders (value counts, rare-value merging, one-hot layout) are fitted on
    ALL 32,769 rows, train and test together, as the paper's reference
    implementation does; only then are the first ``q`` rows taken as training set.
    The featurised matrix is built once per process (``functools.lru_cache``).
    """
    q = v.integer("q", q, lo=1, hi=AMAZON_N_ROWS - 1)
    X, y, columns, where, seconds = _amazon_all(None if root is None else str(root), verify)
    return Dataset(
        name="amazon",
        x_train=X[:q],
        y_train=y[:q].copy(),
        x_test=X[q:],
        y_test=y[q:].copy(),
        n_classes=2,
        metric="auc",
        provenance=(
            "Kaggle 'Amazon.com - Employee Access Challenge' training set (32,769 rows) "
            f"as redistributed by the paper's authors, from {where}"
            + ("; sha256 verified" if verify else "; sha256 NOT verified")
            + f"; first q={q} rows train, the rest test"
        ),
        meta={
            "q": q,
            "d": X.shape[1],
            "columns": columns,
            "build_seconds": seconds,
            "encoders_fitted_on": "all 32,769 rows (train and test), as the reference code",
        },
    )




# =========================================================================== partitions
