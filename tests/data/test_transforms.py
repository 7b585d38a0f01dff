import numpy as np
import pytest
import torch
import torch.nn.functional as F

from minicnn.data import transforms as T


@pytest.fixture
def batch():
    return np.random.default_rng(0).integers(0, 256, (4, 3, 7, 9)).astype(np.uint8)


def test_to_float_and_normalize(batch):
    x = T.Compose([T.ToFloat(), T.Normalize((0.5, 0.4, 0.3), (0.2, 0.25, 0.5))])(batch)
    assert x.dtype == np.float32
    np.testing.assert_allclose(x[:, 1], (batch[:, 1] / 255 - 0.4) / 0.25, rtol=1e-5)
    with pytest.raises(ValueError, match="Normalize: batch has 3 channels, mean/std have 1"):
        T.Normalize((0.5,), (0.2,))(x)


@pytest.mark.parametrize("size", [(14, 18), (28, 32), (5, 4), (32, 32)])
def test_bilinear_resize_matches_torch(batch, size):
    x = batch.astype(np.float32)
    expected = F.interpolate(torch.tensor(x), size=size, mode="bilinear", align_corners=False).numpy()
    np.testing.assert_allclose(T.Resize(size)(x), expected, atol=1e-3)


@pytest.mark.parametrize("size", [(14, 18), (28, 32), (3, 4)])
def test_nearest_resize_matches_torch(batch, size):
    expected = F.interpolate(torch.tensor(batch.astype(np.float32)), size=size, mode="nearest").numpy()
    np.testing.assert_array_equal(T.Resize(size, "nearest")(batch), expected)


def test_random_crop_is_a_shifted_window(batch):
    rng = np.random.default_rng(1)
    out = T.RandomCrop((7, 9), padding=2)(batch, rng)
    assert out.shape == batch.shape
    padded = np.pad(batch, [(0, 0), (0, 0), (2, 2), (2, 2)])
    top, left = np.random.default_rng(1).integers(0, 5, 4), np.random.default_rng(1).integers(0, 5, 8)[4:]
    for i in range(4):
        np.testing.assert_array_equal(out[i], padded[i, :, top[i]:top[i] + 7, left[i]:left[i] + 9])


def test_flip_centre_crop_ten_crop(batch):
    flipped = T.RandomHorizontalFlip(p=1.0)(batch, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped, batch[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(batch, np.random.default_rng(0)), batch)
    np.testing.assert_array_equal(T.CenterCrop(3)(batch), batch[:, :, 2:5, 3:6])
    crops = T.TenCrop((5, 5))(batch)
    assert crops.shape == (10, 4, 3, 5, 5)
    np.testing.assert_array_equal(crops[0], batch[:, :, :5, :5])
    np.testing.assert_array_equal(crops[3], batch[:, :, 2:, 4:])
    np.testing.assert_array_equal(crops[9], crops[4][..., ::-1])


def test_pca_colour_adds_one_rgb_offset_per_image():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 3, 8, 8)).astype(np.uint8)
    pca = T.PCAColor.fit(images, alphastd=0.1)
    cov = np.cov(images.transpose(0, 2, 3, 1).reshape(-1, 3) / 255, rowvar=False)
    np.testing.assert_allclose(pca.eigenvectors @ np.diag(pca.eigenvalues) @ pca.eigenvectors.T, cov, rtol=1e-4, atol=1e-7)
    x = images.astype(np.float32) / 255
    out = pca(x, np.random.default_rng(2))
    shift = out - x
    assert np.allclose(shift, shift[:, :, :1, :1], atol=1e-6) and not np.allclose(shift, 0)
    with pytest.raises(ValueError, match="PCAColor: needs 3-channel images, got 1 channels"):
        T.PCAColor.fit(images[:, :1])
