import os

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn import models, nn
from minicnn.viz.images import feature_maps, filters, image_grid


def minmax(a):
    return (a - a.min()) / (a.max() - a.min())


def tile(grid, row, column, H, W, pad=1):
    """The tile at (row, column) of a grid of H x W tiles."""
    top, left = pad + row * (H + pad), pad + column * (W + pad)
    return grid[top:top + H, left:left + W]


def first_conv(model):
    name, conv = next((n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d))
    return name, conv


def conv_output_size(size, conv):
    return tuple((s + 2 * conv.padding - k) // st + 1 for s, k, st in zip(size, conv.kernel_size, conv.stride))


@pytest.fixture(scope="module")
def alexnet():
    mc.manual_seed(0)
    return models.get("alexnet")


@pytest.fixture
def lenet():
    mc.manual_seed(0)
    return models.get("lenet5")


# ---- image_grid ------------------------------------------------------------------------------------
@pytest.mark.parametrize("T, H, W, columns, pad, expected", [
    (6, 5, 5, None, 1, (13, 19)),      # 3 columns x 2 rows
    (7, 4, 3, None, 0, (12, 9)),       # 3 x 3, last row short
    (5, 2, 2, 5, 2, (6, 22)),          # one row of 5
    (5, 2, 2, 2, 1, (10, 7)),          # 2 x 3
    (1, 3, 3, None, 1, (5, 5)),
])
@pytest.mark.parametrize("rgb", [False, True])
def test_grid_shape(T, H, W, columns, pad, expected, rgb):
    tiles = np.random.default_rng(0).normal(size=(T, H, W, 3) if rgb else (T, H, W)) * 100
    grid = image_grid(tiles, columns=columns, pad=pad)
    assert grid.shape == expected + ((3,) if rgb else ())
    assert grid.min() >= 0 and grid.max() <= 1


def test_each_tile_is_scaled_on_its_own_and_a_constant_tile_is_mid_gray():
    tiles = np.array([[[0, 2], [1, 2]], [[-5, -5], [-5, -5]], [[10, 20], [30, 50]]], dtype=np.float32)
    grid = image_grid(tiles, columns=3, pad=1)
    np.testing.assert_allclose(grid[1:3, 1:3], [[0, 1], [0.5, 1]])
    np.testing.assert_allclose(grid[1:3, 4:6], 0.5)
    np.testing.assert_allclose(grid[1:3, 7:9], [[0, 0.25], [0.5, 1]])
    assert (grid[0] == 1).all() and (grid[:, 3] == 1).all()        # white lines between tiles


def test_all_scales_the_tiles_together():
    tiles = np.array([[[0, 1]], [[1, 4]]], dtype=np.float64)
    grid = image_grid(tiles, columns=2, pad=0, normalize="all")
    np.testing.assert_allclose(grid, [[0, 0.25, 0.25, 1]])
    np.testing.assert_allclose(image_grid(np.full((2, 2, 2), 7.0), normalize="all")[1:3, 1:3], 0.5)


def test_a_pixel_lands_where_its_tile_is():
    tiles = np.zeros((5, 2, 3))
    tiles[3, 1, 2] = 1.0                 # tile 3 is row 1, column 1 of a 2-column grid
    grid = image_grid(tiles, columns=2, pad=1)
    top, left = 1 + 1 * (2 + 1), 1 + 1 * (3 + 1)
    assert grid[top + 1, left + 2] == 1.0
    assert (grid[top:top + 2, left:left + 3].sum()) == 1.0      # the rest of that tile is 0
    assert (grid[1:3, 1:4] == 0.5).all()                           # the other tiles are constant
    assert (grid[7:9, 5:8] == 1.0).all()                           # the empty sixth slot is white


def test_grid_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\(T, H, W\).*got shape \(4, 4\)"):
        image_grid(np.zeros((4, 4)))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\).*got shape \(2, 4, 4, 4\)"):
        image_grid(np.zeros((2, 4, 4, 4)))
    with pytest.raises(ValueError, match="normalize must be 'each' or 'all'"):
        image_grid(np.zeros((2, 4, 4)), normalize="none")


# ---- filters ---------------------------------------------------------------------------------------
def test_lenet5_filters_one_channel_make_a_square_grid(lenet):
    _, conv = first_conv(lenet)
    weight = conv.weight.numpy()
    OC, C, KH, KW = weight.shape
    assert (OC, C) == (6, 1)
    grid = filters(conv)                        # 6 tiles: 3 columns (ceil(sqrt(6))), 2 rows
    assert grid.shape == (2 * (KH + 1) + 1, 3 * (KW + 1) + 1)
    np.testing.assert_allclose(tile(grid, 1, 1, KH, KW), minmax(weight[4, 0]), atol=1e-6)


def test_multi_channel_filters_are_gray_tiles_per_input_channel(lenet):
    conv = lenet.features[3]
    weight = conv.weight.numpy()
    assert weight.shape == (16, 6, 5, 5)
    grid = filters(conv)
    assert grid.shape == (16 * 6 + 1, 6 * 6 + 1)
    np.testing.assert_allclose(tile(grid, 3, 4, 5, 5), minmax(weight[3, 4]), atol=1e-6)
    assert filters(conv, columns=8).shape == (12 * 6 + 1, 8 * 6 + 1)


def test_alexnet_filters_are_rgb_tiles(alexnet):
    _, conv = first_conv(alexnet)
    weight = conv.weight.numpy()
    assert weight.shape == (96, 3, 11, 11)        # lecture table: 96 filters of 11x11x3
    grid = filters(conv)
    assert grid.shape == (10 * 12 + 1, 10 * 12 + 1, 3)        # ceil(sqrt(96)) = 10 columns, 10 rows
    np.testing.assert_allclose(tile(grid, 3, 7, 11, 11), minmax(weight[37].transpose(1, 2, 0)), atol=1e-6)


def test_filters_needs_a_conv():
    with pytest.raises(TypeError, match="expected a minicnn.nn.Conv2d, got Linear"):
        filters(nn.Linear(3, 2))


# ---- feature_maps ----------------------------------------------------------------------------------
def test_lenet5_first_layer_feature_maps(lenet):
    name, conv = first_conv(lenet)
    C, H, W = models.info("lenet5").input_size
    image = np.random.default_rng(1).random((C, H, W)).astype(np.float32)
    OH, OW = conv_output_size((H, W), conv)
    assert (OH, OW) == (28, 28)
    lenet.train()
    lenet.classifier.eval()
    grid = feature_maps(lenet, image, name)
    assert grid.shape == (2 * (OH + 1) + 1, 3 * (OW + 1) + 1)       # 6 maps: 3 columns, 2 rows
    with mc.no_grad():
        expected = conv(mc.Tensor(image[None])).numpy()[0]
    np.testing.assert_allclose(tile(grid, 1, 2, OH, OW), minmax(expected[5]), atol=1e-5)
    assert conv._forward_hooks == []
    assert lenet.training and lenet.features.training and not lenet.classifier.training
    assert not lenet.classifier[0].training
    # A batch of one and a Tensor give the same picture.
    np.testing.assert_array_equal(feature_maps(lenet, mc.Tensor(image[None]), name), grid)


def test_alexnet_first_layer_feature_maps(alexnet):
    name, conv = first_conv(alexnet)
    C, H, W = models.info("alexnet").input_size
    OH, OW = conv_output_size((H, W), conv)
    assert conv.out_channels == 96 and (OH, OW) == (55, 55)
    image = np.random.default_rng(2).random((1, C, H, W))          # float64: cast to the weights' float32
    grid = feature_maps(alexnet, image, name)
    assert grid.shape == (10 * (OH + 1) + 1, 10 * (OW + 1) + 1)
    assert grid.min() >= 0 and grid.max() <= 1
    assert conv._forward_hooks == [] and all(m.training for m in alexnet.modules())


def test_feature_maps_errors(lenet):
    image = np.zeros((1, 32, 32))
    with pytest.raises(ValueError, match=r"no layer named 'conv9'.*features\.0"):
        feature_maps(lenet, image, "conv9")
    with pytest.raises(ValueError, match=r"'classifier' gave \(1, 10\), not \(1, C, H, W\)"):
        feature_maps(lenet, image, "classifier")
    with pytest.raises(ValueError, match=r"image must be \(C, H, W\) or \(1, C, H, W\), got shape \(2, 1, 32, 32\)"):
        feature_maps(lenet, np.zeros((2, 1, 32, 32)), "features.0")
    assert all(m._forward_hooks == [] for m in lenet.modules())
    assert all(m.training for m in lenet.modules())


# ---- PNG files -------------------------------------------------------------------------------------
def test_saved_png_matches_the_grid_and_leaves_no_temporary_file(tmp_path, lenet):
    path = tmp_path / "maps.png"
    grid = feature_maps(lenet, np.zeros((1, 32, 32)), "features.0", path=path)   # maps = bias: constant tiles
    assert os.listdir(tmp_path) == ["maps.png"]
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size == (grid.shape[1], grid.shape[0])
        pixels = np.asarray(png.convert("L"))
    assert abs(int(pixels[5, 5]) - 128) <= 1         # 0.5 stays mid gray (not stretched to black)
    assert pixels[0, 0] == 255


def test_saved_rgb_filters(tmp_path, alexnet):
    path = tmp_path / "conv1.png"
    grid = filters(first_conv(alexnet)[1], path=str(path))
    assert os.listdir(tmp_path) == ["conv1.png"]
    with Image.open(path) as png:
        assert png.size == (grid.shape[1], grid.shape[0])
        pixels = np.asarray(png.convert("RGB"), dtype=np.float64)
    assert np.abs(pixels - grid * 255).max() <= 1
