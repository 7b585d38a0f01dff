"""A tiny run for the library's tests: random 28x28 images in memory (no dataset on disk needed),
LeNet-5, one epoch of a few batches."""
import numpy as np

from minicnn.data import ArrayDataset
from minicnn.train import Trainer, build_parser, loaders_for, resolve

FLAGS = ["--arch", "lenet5_28", "--epochs", "1", "--batch-size", "16", "--workers", "0", "--no-progress"]


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return ArrayDataset(rng.integers(0, 256, (n, 1, 28, 28), dtype=np.uint8), rng.integers(0, 10, n),
                        [f"class {i}" for i in range(10)], "fashion-mnist")


def config_of(*flags):
    """The resolved config of ``python -m minicnn.train FLAGS *flags``, on the CPU."""
    return {**resolve(build_parser().parse_args([*FLAGS, *map(str, flags)])), "device": "cpu"}


def trainer(folder, *flags, world=None, train_images=80, test_images=32):
    """A Trainer over ``train_images`` random images (10% held out) in ``folder``."""
    config = config_of(*flags)
    data = loaders_for(images(train_images), images(test_images, seed=1), config)
    config.update(data.facts, world_size=1)
    return Trainer(config, data, str(folder), *([world] if world else []))
