"""CIFAR-10/100 and ImageFolder datasets read from files, through torchvision where it imports.

Nothing is downloaded: a missing dataset raises one ValueError saying what to fetch and where to
put it. torchvision is imported lazily, through ``torchvision_or_none``. A CUDA build of torchvision
beside a CPU torch fails to import ("operator torchvision::nms does not exist": its compiled ops
did not load, and it registers fake kernels for two of them unguarded); ``torchvision_or_none``
then declares those two op schemas, so the pure-Python parts (datasets, transforms) import and only
the compiled ops stay unusable. Where torchvision still cannot be imported, the same on-disk
formats are read by seknet itself.
CIFAR's "python version" batches are pickles: that is the dataset's own format (read, never written).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from seknet.data.split import Data, Split

CIFAR = {  # name: (folder, train files, test files, label key, classes, mean, std)
    "cifar10": (
        "cifar-10-batches-py",
        [f"data_batch_{i}" for i in range(1, 6)],
        ["test_batch"],
        "labels",
        10,
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
    ),
    "cifar100": (
        "cifar-100-python",
        ["train"],
        ["test"],
        "fine_labels",
        100,
        (0.5071, 0.4865, 0.4409),
        (0.2673, 0.2564, 0.2762),
    ),
}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".webp")
VAL_FRACTION = 0.1  # CIFAR: held out of the training files, by seed; the test files stay the test split


# The ops torchvision registers fake kernels for without checking its extension loaded (0.2x):
_UNGUARDED_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)
_schemas: list = []  # the torch.library.Library holding them; the definitions live as long as it does


def torchvision_or_none():
    """torchvision if it can be imported on this install (declaring its unguarded ops if needed), else None.

    Other libraries that import torchvision (torchmetrics, under NNI and Lightning) need this called first.
    """
    import sys

    try:
        import torchvision

        return torchvision
    except Exception as e:  # noqa: BLE001 - any other failure means: read the files ourselves
        if "torchvision::" not in str(e) or _schemas:
            return None
    for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
        del sys.modules[name]  # the half-imported package
    lib = torch.library.Library("torchvision", "DEF")
    for schema in _UNGUARDED_OPS:
        lib.define(schema)
    _schemas.append(lib)
    try:
        import torchvision

        return torchvision
    except Exception:  # noqa: BLE001
        return None


def _normalise(x: np.ndarray, mean, std) -> torch.Tensor:
    t = torch.from_numpy(x).float().div_(255).permute(0, 3, 1, 2)  # (N, H, W, C) uint8 -> (N, C, H, W)
    return (t - torch.tensor(mean)[:, None, None]) / torch.tensor(std)[:, None, None]


def _read_cifar(name: str, folder: Path, train: bool) -> tuple[np.ndarray, np.ndarray]:
    _, train_files, test_files, key, *_ = CIFAR[name]
    tv = torchvision_or_none()
    if tv is not None:
        cls = tv.datasets.CIFAR10 if name == "cifar10" else tv.datasets.CIFAR100
        # No md5 checks (slow on the real files; tests write tiny ones); class names are never used.
        local = type(
            "Local",
            (cls,),
            {"_check_integrity": lambda self: True, "_load_meta": lambda self: None},
        )
        ds = local(str(folder.parent), train=train)
        return np.asarray(ds.data), np.asarray(ds.targets, np.int64)
    xs, ys = [], []
    for f in train_files if train else test_files:
        with open(folder / f, "rb") as fh:
            batch = pickle.load(fh, encoding="latin1")  # Python 2 pickles: str keys, as torchvision reads them
        xs.append(np.asarray(batch["data"], np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        ys.append(np.asarray(batch[key], np.int64))
    return np.concatenate(xs), np.concatenate(ys)


def load_cifar(name: str, root: str | Path, seed: int = 0) -> Data:
    """CIFAR-10/100 from ``root/cifar-10-batches-py`` (or ``cifar-100-python``), the python-version files."""
    folder_name, train_files, test_files, _, classes, mean, std = CIFAR[name]
    folder = Path(root) / folder_name
    missing = [f for f in train_files + test_files if not (folder / f).is_file()]
    if missing:
        archive = "cifar-10-python.tar.gz" if name == "cifar10" else "cifar-100-python.tar.gz"
        raise ValueError(
            f"{name}: {folder / missing[0]} not found; download {archive} (python version) from "
            f"https://www.cs.toronto.edu/~kriz/cifar.html and extract it into {root}"
        )
    x, y = _read_cifar(name, folder, train=True)
    xt, yt = _read_cifar(name, folder, train=False)
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(len(y) * VAL_FRACTION))
    val, tr = order[:n_val], order[n_val:]
    splits = [Split(_normalise(x[i], mean, std), torch.from_numpy(y[i])) for i in (tr, val)]
    return Data(name, *splits, Split(_normalise(xt, mean, std), torch.from_numpy(yt)), num_classes=classes)


def _image_files(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    files = [
        (f, i)
        for i, c in enumerate(classes)
        for f in sorted((folder / c).rglob("*"))
        if f.suffix.lower() in IMAGE_EXTENSIONS
    ]
    return classes, files


def _read_images(files: list[tuple[Path, int]], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Resize the shorter side to ``size`` and centre-crop (torchvision's Resize + CenterCrop), RGB uint8."""
    from PIL import Image

    out = np.zeros((len(files), size, size, 3), np.uint8)
    for k, (f, _) in enumerate(files):
        with Image.open(f) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = size / min(w, h)
            im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.BILINEAR)
            left, top = (im.size[0] - size) // 2, (im.size[1] - size) // 2
            out[k] = np.asarray(im.crop((left, top, left + size, top + size)))
    return out, np.asarray([c for _, c in files], np.int64)


def load_imagefolder(root: str | Path, size: int) -> Data:
    """``root/train/<class>/*.png`` and ``root/val/<class>/*`` (and optional ``root/test``), as ``size`` squares."""
    root = Path(root)
    if not (root / "train").is_dir() or not (root / "val").is_dir():
        raise ValueError(
            f"imagefolder: {root} needs train/<class>/<images> and val/<class>/<images> folders; "
            "pass their parent with --data-root"
        )
    classes, _ = _image_files(root / "train")
    splits = []
    for part in ("train", "val", "test" if (root / "test").is_dir() else "val"):
        names, files = _image_files(root / part)
        if names != classes or not files:
            raise ValueError(f"imagefolder: {root / part} must hold images in the same class folders as train/")
        x, y = _read_images(files, size)
        splits.append(Split(_normalise(x, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), torch.from_numpy(y)))
    return Data("imagefolder", *splits, num_classes=len(classes))


def load(name: str, root: str | Path | None, seed: int = 0, size: int = 224, **kw) -> Data:
    """The registered loader of ``cifar10``, ``cifar100`` and ``imagefolder`` (``seknet.core.plugins.DATASETS``):
    files under ``root``, never downloaded."""
    if root is None:
        raise ValueError(f"{name} reads files: pass --data-root FOLDER (nothing is downloaded)")
    if name == "imagefolder":
        return load_imagefolder(root, size)
    return load_cifar(name, root, seed)
