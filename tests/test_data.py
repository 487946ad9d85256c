from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

import search
from seknet.core.stats import wilson_interval
from seknet.data import files
from seknet.data.digits import load_digits
from seknet.data.load import load_data
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def digits_data():
    return load_digits(0)


def test_digits_split_by_source(digits_data):
    """No source digit appears in two splits; labels are the sources' labels; val holds >= 2,000 images."""
    from sklearn.datasets import load_digits as sk

    target = torch.from_numpy(sk().target)
    parts = [set(s.source.tolist()) for s in (digits_data.train, digits_data.val, digits_data.test)]
    assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
    assert sum(map(len, parts)) == 1797
    for s in (digits_data.train, digits_data.val, digits_data.test):
        assert torch.equal(s.y, target[s.source])
    assert len(digits_data.val) >= 2000 and digits_data.shape == (1, 16, 16)


def test_digits_deterministic_by_seed(digits_data):
    """The same seed draws the same images; another seed draws others."""
    again = load_digits(0)
    assert torch.equal(again.val.x, digits_data.val.x) and torch.equal(again.train.y, digits_data.train.y)
    assert not torch.equal(load_digits(1).val.x[:100], digits_data.val.x[:100])


def test_digits_are_multiscale_and_cluttered(digits_data):
    """Digit sizes vary (ink bounding boxes span small to large) and most canvases carry clutter."""
    ink = digits_data.val.x[:, 0] > -0.5  # pixels above a quarter intensity
    rows = ink.any(2).float().sum(1)
    assert rows.min() <= 9 and rows.max() == 16
    assert (ink.float().mean((1, 2)) > 0.15).float().mean() > 0.5


def test_plain_digits():
    """digits-plain is the raw 8x8 UCI images."""
    d = load_data("digits-plain")
    assert d.shape == (1, 8, 8) and len(d.train) + len(d.val) + len(d.test) == 1797


def test_digits_never_import_torchvision():
    """The default data path works without torchvision (it may be a broken CUDA build)."""
    code = (
        "import sys, seknet, search; from seknet.data.digits import load_digits; load_digits(0, 1, 1); "
        "sys.exit('torchvision' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_test_variants_resize_only_the_test_split(digits_data):
    """test_variants draws more test images per source; train and val stay the very same images."""
    big = load_digits(0, test_variants=24)
    assert torch.equal(big.train.x, digits_data.train.x) and torch.equal(big.val.x, digits_data.val.x)
    assert len(big.test) == 4 * len(digits_data.test)
    assert set(big.test.source.tolist()) == set(digits_data.test.source.tolist())


def test_torchvision_imports_through_seknet_even_when_mismatched():
    """files.torchvision_or_none() imports torchvision's pure-Python parts even on a CUDA build beside CPU torch."""
    import importlib.util

    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    code = "from seknet.data.files import torchvision_or_none as t; tv = t(); tv.datasets.CIFAR10; tv.transforms.Resize"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


@pytest.fixture(params=["torchvision", "built-in"])
def reader(request, monkeypatch):
    """Each file format is read once through torchvision and once by seknet's own reader."""
    if request.param == "built-in":
        monkeypatch.setattr(files, "torchvision_or_none", lambda: None)
    elif files.torchvision_or_none() is None:
        pytest.skip("torchvision cannot be imported here")
    return request.param


def test_wilson_interval():
    """Wilson 95 % interval by hand: 50 of 100 -> [0.4038, 0.5962]; 0 of 10 -> [0, 0.2775]."""
    lo, hi = wilson_interval(50, 100)
    assert abs(lo - 0.4038) < 1e-4 and abs(hi - 0.5962) < 1e-4
    lo, hi = wilson_interval(0, 10)
    assert lo == 0 and abs(hi - 0.2775) < 1e-4


def _write_cifar(root, name, per_file=4):
    folder, train_files, test_files, key, classes, *_ = files.CIFAR[name]
    d = root / folder
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for f in train_files + test_files:
        data = rng.integers(0, 256, (per_file, 3072), dtype=np.uint8)
        data[0, :1024] = 255  # first image: red channel full, as CIFAR lays out R, G, B planes
        data[0, 1024:] = 0
        labels = [int(v) for v in rng.integers(0, classes, per_file)]
        with open(d / f, "wb") as fh:
            pickle.dump({"data": data, key: labels, "batch_label": "x"}, fh)  # str keys, as py2 pickles load
    return d


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_from_real_format_files(tmp_path, name, reader):
    """Tiny CIFAR files in the python-version format load: shapes, labels, channel order, splits."""
    _write_cifar(tmp_path, name)
    d = load_data(name, tmp_path, seed=0)
    n_train_files = len(files.CIFAR[name][1])
    assert len(d.train) + len(d.val) == 4 * n_train_files and len(d.test) == 4 and d.shape == (3, 32, 32)
    mean, std = files.CIFAR[name][5], files.CIFAR[name][6]
    red = torch.tensor([(1 - mean[0]) / std[0], (0 - mean[1]) / std[1], (0 - mean[2]) / std[2]])
    assert torch.allclose(d.test.x[0, :, 5, 7], red, atol=1e-5)
    assert d.num_classes == files.CIFAR[name][4]


def test_imagefolder_from_png_files(tmp_path):
    """ImageFolder PNGs: classes from sorted folder names, shorter side resized and centre-cropped to size."""
    from PIL import Image

    for part in ("train", "val"):
        for c, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            (tmp_path / part / c).mkdir(parents=True)
            for k in range(2):
                Image.new("RGB", (30, 20), colour).save(tmp_path / part / c / f"{k}.png")
    d = load_data("imagefolder", tmp_path, size=16)
    assert d.shape == (3, 16, 16) and d.num_classes == 2 and d.train.y.tolist() == [0, 0, 1, 1]
    assert d.train.x[0, 0].mean() > d.train.x[0, 2].mean() and d.train.x[3, 2].mean() > d.train.x[3, 0].mean()


def test_missing_datasets_say_what_to_do(tmp_path, capsys):
    """A missing dataset names what to download and where; from the CLI: one line, exit 2."""
    with pytest.raises(ValueError, match=r"download cifar-10-python.tar.gz .* and extract it into"):
        load_data("cifar10", tmp_path)
    with pytest.raises(ValueError, match=r"needs train/<class>/<images> and val/<class>/<images>"):
        load_data("imagefolder", tmp_path)
    with pytest.raises(ValueError, match=r"pass --data-root FOLDER"):
        load_data("cifar100")
    argv = [
        "run",
        "--space",
        "search_space/cifar10.yaml",
        "--data",
        "cifar10",
        "--data-root",
        str(tmp_path),
        "--smoke",
        "--out",
        str(tmp_path / "run"),
    ]
    assert search.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cifar-10-batches-py" in err and not (tmp_path / "run").exists()
