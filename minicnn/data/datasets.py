"""Datasets read from local files: Fashion-MNIST, MNIST (IDX), CIFAR-10/100 (binary), image folders.

Nothing is downloaded here (minicnn/data/fetch.py does that, when asked). A dataset's folder is
looked up, in order, in:
  1. ``data_dir`` (the ``--data-dir`` flag),
  2. ``$MINICNN_DATA/<name>``,
  3. ``~/.minicnn/data/<name>`` (where ``python -m minicnn.data.fetch`` puts it by default),
  4. for Fashion-MNIST, Debian's package ``dataset-fashion-mnist`` (/usr/share/datasets/fashion-mnist).
When no folder has the files, the error (``DataMissing``) says which files to put where, the fetch
command that downloads them, and for Fashion-MNIST the package to install.

Every dataset is an ``ArrayDataset``: ``images`` uint8 (N, C, H, W), ``labels`` int64 (N,), and the
class names. Images stay uint8 until a transform turns a batch into float32 (4x less memory).
"""
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from minicnn.data.idx import DataError, read_idx

__all__ = ["ArrayDataset", "fashion_mnist", "mnist", "cifar10", "cifar100", "image_folder", "load_dataset",
           "DATASETS", "DataError", "DataMissing", "data_root", "candidate_folders", "DEBIAN_FASHION"]

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                   "Bag", "Ankle boot"]
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


class DataMissing(DataError):
    """No candidate folder holds a dataset's files (``train --download`` fetches them then)."""


def data_root():
    """The folder that holds one sub-folder per dataset: ``$MINICNN_DATA``, else ``~/.minicnn/data``."""
    return Path(os.environ.get("MINICNN_DATA") or Path.home() / ".minicnn" / "data")


@dataclass
class ArrayDataset:
    images: np.ndarray      # uint8 (N, C, H, W)
    labels: np.ndarray      # int64 (N,)
    classes: list
    name: str

    def __post_init__(self):
        N = len(self.labels)
        if self.images.ndim != 4 or len(self.images) != N:
            raise DataError(f"{self.name}: images must be (N, C, H, W) with N = {N} labels, got {self.images.shape}")
        if N and (self.labels.min() < 0 or self.labels.max() >= len(self.classes)):
            raise DataError(f"{self.name}: labels must lie in [0, {len(self.classes)}), found "
                            f"{int(self.labels.min())}..{int(self.labels.max())}")

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def subset(self, n):
        """The first ``n`` examples (``--subset``, for a quick try)."""
        return ArrayDataset(self.images[:n], self.labels[:n], self.classes, self.name)


def candidate_folders(name, data_dir=None, extra=()):
    """The folders a dataset's files are looked for in, in order (see the module docstring)."""
    folders = []
    if data_dir:
        folders.append(Path(data_dir))
    if os.environ.get("MINICNN_DATA"):
        folders.append(Path(os.environ["MINICNN_DATA"]) / name)
    folders.append(Path.home() / ".minicnn" / "data" / name)
    folders.extend(Path(f) for f in extra)
    return folders


def _find(name, data_dir, files, fetch_name, extra=(), hint=""):
    """The first candidate folder holding every file in ``files`` (each a tuple of accepted names)."""
    folders = candidate_folders(name, data_dir, extra)
    for folder in folders:
        found = [next((folder / n for n in names if (folder / n).is_file()), None) for names in files]
        if all(found):
            return found
    wanted = ", ".join(names[0] for names in files)
    gz = " (or their .gz versions)" if any(len(names) > 1 for names in files) else ""
    raise DataMissing(f"{name}: data files not found. Looked in: {', '.join(str(f) for f in folders)}. "
                      f"Put {wanted}{gz} in one of them{hint}. Nothing is downloaded unless asked: "
                      f"`python -m minicnn.data.fetch {fetch_name}` downloads them (or train with --download).")


def _idx_dataset(name, split, data_dir, classes, extra=(), hint=""):
    prefix = {"train": "train", "test": "t10k"}[_check_split(name, split)]
    files = [(f"{prefix}-images-idx3-ubyte", f"{prefix}-images-idx3-ubyte.gz"),
             (f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels-idx1-ubyte.gz")]
    image_file, label_file = _find(name, data_dir, files, name, extra, hint)
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise DataError(f"{name}: {image_file} holds {images.shape} and {label_file} holds {labels.shape}; "
                        "expected (N, 28, 28) images and N labels")
    if labels.max() >= len(classes):
        raise DataError(f"{name}: {label_file} has label {int(labels.max())}, outside [0, {len(classes)})")
    return ArrayDataset(images[:, None], labels.astype(np.int64), classes, name)


def _check_split(name, split):
    if split not in ("train", "test"):
        raise ValueError(f"{name}: split must be 'train' or 'test', got {split!r}")
    return split


def fashion_mnist(split="train", data_dir=None):
    """Zalando's Fashion-MNIST: 60,000 + 10,000 grey 28x28 images of 10 clothing classes."""
    return _idx_dataset("fashion-mnist", split, data_dir, FASHION_CLASSES, extra=[DEBIAN_FASHION],
                        hint=", or install Debian's package: apt-get install dataset-fashion-mnist")


def mnist(split="train", data_dir=None):
    """LeCun's MNIST digits: 60,000 + 10,000 grey 28x28 images of 10 classes."""
    return _idx_dataset("mnist", split, data_dir, [str(d) for d in range(10)])


def _cifar(name, split, data_dir, train_files, test_files, label_bytes, classes_file, num_classes):
    files = train_files if _check_split(name, split) == "train" else test_files
    paths = _find(name, data_dir, [(f,) for f in files] + [(classes_file,)], fetch_name=name.replace("-", ""))
    record = label_bytes + 3 * 32 * 32
    images, labels = [], []
    for path in paths[:-1]:
        raw = np.fromfile(path, np.uint8)
        if raw.size == 0 or raw.size % record:
            raise DataError(f"{name}: {path} has {raw.size} bytes, not a whole number of {record}-byte records "
                            "(truncated? use the binary version of the dataset, not the Python one)")
        rows = raw.reshape(-1, record)
        labels.append(rows[:, label_bytes - 1].astype(np.int64))     # CIFAR-100: [coarse, fine]
        images.append(rows[:, label_bytes:].reshape(-1, 3, 32, 32))
    classes = [c for c in Path(paths[-1]).read_text().splitlines() if c.strip()]
    if len(classes) != num_classes:
        raise DataError(f"{name}: {paths[-1]} lists {len(classes)} classes, expected {num_classes}")
    return ArrayDataset(np.concatenate(images), np.concatenate(labels), classes, name)


def cifar10(split="train", data_dir=None):
    """CIFAR-10 from the official *binary* archive (cifar-10-batches-bin): 50,000 + 10,000 32x32 RGB images."""
    return _cifar("cifar-10", split, data_dir, [f"data_batch_{i}.bin" for i in range(1, 6)], ["test_batch.bin"],
                  1, "batches.meta.txt", 10)


def cifar100(split="train", data_dir=None):
    """CIFAR-100 (fine labels) from the official *binary* archive (cifar-100-binary)."""
    return _cifar("cifar-100", split, data_dir, ["train.bin"], ["test.bin"], 2, "fine_label_names.txt", 100)


def image_folder(root, size=None):
    """A folder with one sub-folder per class of PNG/JPEG images (sorted class names give the labels).

    Images are converted to RGB and, when ``size`` = (H, W) is given, resized to it (they must
    all have one size otherwise).
    """
    from PIL import Image          # Pillow is needed only for this dataset

    root = Path(root)
    if not root.is_dir():
        raise DataError(f"image folder {root} does not exist")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir())
    images, labels = [], []
    for label, cls in enumerate(classes):
        for path in sorted((root / cls).iterdir()):
            if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
                continue
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB")
                    if size is not None:
                        img = img.resize((size[1], size[0]), Image.BILINEAR)
                    array = np.asarray(img, np.uint8).transpose(2, 0, 1)
            except OSError as e:
                raise DataError(f"image folder: cannot read {path}: {e}") from e
            if images and array.shape != images[0].shape:
                raise DataError(f"image folder: {path} is {array.shape[1]}x{array.shape[2]}, the first image is "
                                f"{images[0].shape[1]}x{images[0].shape[2]}; pass size=(H, W) to resize them all")
            images.append(array)
            labels.append(label)
    if not images:
        raise DataError(f"image folder {root} has no PNG/JPEG images in class sub-folders")
    return ArrayDataset(np.stack(images), np.array(labels, np.int64), classes, root.name)


DATASETS = {"fashion-mnist": fashion_mnist, "mnist": mnist, "cifar10": cifar10, "cifar100": cifar100}


def load_dataset(name, split="train", data_dir=None):
    """A dataset by name (``--dataset``): fashion-mnist, mnist, cifar10, cifar100, or a folder path."""
    if name in DATASETS:
        return DATASETS[name](split, data_dir)
    if Path(name).is_dir():
        return image_folder(Path(name) / split if (Path(name) / split).is_dir() else name)
    raise ValueError(f"unknown dataset {name!r}: use one of {', '.join(DATASETS)} or a folder of class sub-folders")
