"""python -m minicnn.viz filters/maps in a subprocess: pictures large enough to see (--scale, by
default at least 256 pixels across) with each tile's number on it."""
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn.data.datasets import DEBIAN_FASHION, FASHION_CLASSES
from minicnn.viz.images import image_grid


@pytest.fixture
def checkpoint(tmp_path):
    """A LeNet-5 in train's checkpoint format: filters need no data."""
    mc.manual_seed(0)
    path = tmp_path / "untrained.safetensors"
    mc.save({"model": mc.models.get("lenet5").state_dict(), "epoch": 0,
             "config": {"arch": "lenet5", "dataset": "fashion-mnist", "data_dir": None, "input_size": [1, 32, 32],
                        "image_size": 28, "classes": FASHION_CLASSES}}, path)
    return str(path)


def viz(*args):
    return subprocess.run([sys.executable, "-m", "minicnn.viz", *map(str, args)], capture_output=True, text=True,
                          timeout=120)


def yellow(path):
    """How many label pixels (yellowish, red well above blue: gray tiles never are) the picture has."""
    with Image.open(path) as png:
        rgb = np.asarray(png.convert("RGB")).astype(int)
    return int((rgb[..., 0] - rgb[..., 2] > 100).sum())


def test_filters_are_enlarged_to_256_pixels_and_labelled(checkpoint, tmp_path):
    out = tmp_path / "f.png"
    done = viz("filters", "--checkpoint", checkpoint, "--layer", "features.3", "--out", out)   # 16 x 6 tiles, 37 wide
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    with Image.open(out) as png:
        assert png.size == (37 * 7, 97 * 7)                  # 7 = the least scale to >= 256 pixels across
    assert yellow(out) > 0
    bare = tmp_path / "bare.png"
    assert viz("filters", "--checkpoint", checkpoint, "--layer", "features.3", "--out", bare, "--scale", "3",
               "--no-labels").returncode == 0
    with Image.open(bare) as png:
        pixels = np.asarray(png.convert("L"), dtype=np.float64)
    assert pixels.shape == (97 * 3, 37 * 3) and yellow(bare) == 0
    mc.manual_seed(0)                                        # the checkpoint's filters again
    grid = image_grid(mc.models.get("lenet5").features[3].weight.numpy().reshape(96, 5, 5), columns=6)
    np.testing.assert_allclose(pixels[::3, ::3], np.round(grid * 255), atol=1)     # each value a 3x3 block
    np.testing.assert_array_equal(pixels[1::3, 2::3], pixels[::3, ::3])


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION), reason="Fashion-MNIST is not installed")
def test_maps_are_enlarged_and_labelled(checkpoint, tmp_path):
    out = tmp_path / "m.png"
    done = viz("maps", "--checkpoint", checkpoint, "--layer", "features.0", "--out", out)     # 6 maps of 28x28
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("3x: 264x177 pixels, run on " + mc.backend.device_name("cpu"))
    assert yellow(out) > 0


@pytest.mark.parametrize("flag", ["--scale", "--columns"])
def test_a_bad_scale_or_columns_is_a_message(checkpoint, tmp_path, flag):
    done = viz("filters", "--checkpoint", checkpoint, "--layer", "features.0", flag, "0", "--out", tmp_path / "f.png")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"minicnn viz filters: {flag} must be >= 1, got 0" in done.stderr
    assert os.listdir(tmp_path) == ["untrained.safetensors"]
