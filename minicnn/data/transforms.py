"""Batched image transforms on NumPy arrays (N, C, H, W), written by hand.

Each transform is called as ``t(batch, rng)`` with a NumPy Generator, so that random
augmentation is reproducible from a seed (the DataLoader gives each batch its own generator).
Geometry works on uint8 or float batches; ``ToFloat`` and ``Normalize`` produce float32.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["Compose", "ToFloat", "Normalize", "Resize", "RandomCrop", "RandomHorizontalFlip", "CenterCrop",
           "TenCrop", "PCAColor", "STATS"]

# Per-channel mean and std of the training images, in [0, 1] units.
STATS = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "mnist": ((0.1307,), (0.3081,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
}


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = t(x, rng)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(map(repr, self.transforms)) + ")"


class ToFloat:
    """uint8 [0, 255] -> float32 [0, 1]."""

    def __call__(self, x, rng=None):
        return x.astype(np.float32) / np.float32(255)

    def __repr__(self):
        return "ToFloat()"


class Normalize:
    """(x - mean) / std per channel, so every input channel has zero mean and unit variance."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)

    def __call__(self, x, rng=None):
        if x.shape[1] != self.mean.shape[1]:
            raise ValueError(f"Normalize: batch has {x.shape[1]} channels, mean/std have {self.mean.shape[1]}")
        return (x - self.mean) / self.std

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class Resize:
    """Resize H and W to ``size``: "nearest" copies the closest pixel; "bilinear" (align_corners=False,
    as PyTorch and PIL) mixes the four neighbours of each output pixel's centre, one axis at a time."""

    def __init__(self, size, mode="bilinear"):
        if mode not in ("nearest", "bilinear"):
            raise ValueError(f"Resize: mode must be 'nearest' or 'bilinear', got {mode!r}")
        self.size, self.mode = (size, size) if isinstance(size, int) else tuple(size), mode

    def __call__(self, x, rng=None):
        (H, W), (OH, OW) = x.shape[2:], self.size
        if (H, W) == (OH, OW):
            return x
        if self.mode == "nearest":
            rows = np.minimum((np.arange(OH) * H) // OH, H - 1)
            cols = np.minimum((np.arange(OW) * W) // OW, W - 1)
            return x[:, :, rows][:, :, :, cols]
        y = self._axis(x.astype(np.float32), H, OH, axis=2)
        return self._axis(y, W, OW, axis=3)

    @staticmethod
    def _axis(x, size, out, axis):
        # Output pixel i has its centre at (i + 0.5) * size / out - 0.5 in input coordinates.
        centre = np.clip((np.arange(out) + 0.5) * size / out - 0.5, 0, size - 1)
        low = np.floor(centre).astype(np.int64)
        high = np.minimum(low + 1, size - 1)
        weight = (centre - low).astype(np.float32)
        shape = [1, 1, 1, 1]
        shape[axis] = out
        weight = weight.reshape(shape)
        return np.take(x, low, axis) * (1 - weight) + np.take(x, high, axis) * weight

    def __repr__(self):
        return f"Resize({self.size}, mode={self.mode!r})"


class RandomCrop:
    """Zero-pad by ``padding`` then cut a random ``size`` window per image (CIFAR's 4-pixel shifts)."""

    def __init__(self, size, padding=0):
        self.size, self.padding = (size, size) if isinstance(size, int) else tuple(size), padding

    def __call__(self, x, rng):
        p = self.padding
        x = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)]) if p else x
        (H, W), (h, w) = x.shape[2:], self.size
        windows = sliding_window_view(x, (h, w), axis=(2, 3))          # (N, C, H-h+1, W-w+1, h, w), a view
        top = rng.integers(0, H - h + 1, len(x))
        left = rng.integers(0, W - w + 1, len(x))
        return windows[np.arange(len(x)), :, top, left]

    def __repr__(self):
        return f"RandomCrop({self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    """Mirror each image left-right with probability p (off by default for digits: a mirrored 3 is no 3)."""

    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, x, rng):
        flip = rng.random(len(x)) < self.p
        return np.where(flip[:, None, None, None], x[..., ::-1], x)

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"


def _crop(x, top, left, h, w):
    return x[:, :, top:top + h, left:left + w]


class CenterCrop:
    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, x, rng=None):
        (H, W), (h, w) = x.shape[2:], self.size
        return _crop(x, (H - h) // 2, (W - w) // 2, h, w)

    def __repr__(self):
        return f"CenterCrop({self.size})"


class TenCrop:
    """AlexNet's test-time augmentation: the four corner crops, the centre crop, and their mirror
    images. Returns (10, N, C, h, w); average the ten predictions."""

    def __init__(self, size):
        self.size = (size, size) if isinstance(size, int) else tuple(size)

    def __call__(self, x, rng=None):
        (H, W), (h, w) = x.shape[2:], self.size
        corners = [(0, 0), (0, W - w), (H - h, 0), (H - h, W - w), ((H - h) // 2, (W - w) // 2)]
        crops = [_crop(x, top, left, h, w) for top, left in corners]
        return np.stack(crops + [c[..., ::-1] for c in crops])

    def __repr__(self):
        return f"TenCrop({self.size})"


class PCAColor:
    """AlexNet's colour augmentation: add sum_i alpha_i * lambda_i * p_i to every pixel of an image,
    where (lambda_i, p_i) are the eigenvalues/vectors of the RGB covariance of the training pixels
    and alpha_i ~ N(0, alphastd) is drawn once per image. Works on float batches in [0, 1] units."""

    def __init__(self, eigenvalues, eigenvectors, alphastd=0.1):
        self.eigenvalues = np.asarray(eigenvalues, np.float32)
        self.eigenvectors = np.asarray(eigenvectors, np.float32)
        self.alphastd = alphastd

    @classmethod
    def fit(cls, images, alphastd=0.1, max_pixels=1_000_000, seed=0):
        """Eigen-decompose the RGB covariance of (a sample of) uint8 ``images`` (N, 3, H, W)."""
        if images.shape[1] != 3:
            raise ValueError(f"PCAColor: needs 3-channel images, got {images.shape[1]} channels")
        pixels = images.transpose(0, 2, 3, 1).reshape(-1, 3)
        if len(pixels) > max_pixels:
            pixels = pixels[np.random.default_rng(seed).choice(len(pixels), max_pixels, replace=False)]
        values, vectors = np.linalg.eigh(np.cov(pixels.astype(np.float64) / 255, rowvar=False))
        return cls(values, vectors, alphastd)

    def __call__(self, x, rng):
        alpha = rng.normal(0, self.alphastd, (len(x), 3)).astype(np.float32)
        shift = (alpha * self.eigenvalues) @ self.eigenvectors.T          # (N, 3): one RGB offset per image
        return x + shift[:, :, None, None]

    def __repr__(self):
        return f"PCAColor(alphastd={self.alphastd})"
