import gzip
import os
import struct

import numpy as np
import pytest

from minicnn.data import DataError, DataMissing, fashion_mnist, load_dataset, mnist, read_idx
from minicnn.data import datasets
from minicnn.data.datasets import DEBIAN_FASHION, cifar10, cifar100, image_folder


def write_idx(path, array, gz=True):
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def fake_mnist(folder, n=5, prefix="train", gz=True, labels=None):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", rng.integers(0, 256, (n, 28, 28)), gz)
    write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", np.arange(n) % 10 if labels is None else labels, gz)


@pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_from_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    train, test = fashion_mnist("train"), fashion_mnist("test")
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.images.dtype == np.uint8 and train.labels.dtype == np.int64
    assert np.bincount(train.labels).tolist() == [6000] * 10 and train.classes[9] == "Ankle boot"
    assert abs(train.images.mean() / 255 - 0.2860) < 1e-3          # the published mean


@pytest.mark.parametrize("gz", [True, False])
def test_search_order_data_dir_then_environment(tmp_path, monkeypatch, gz):
    first, second = tmp_path / "a", tmp_path / "b" / "mnist"
    first.mkdir()
    second.mkdir(parents=True)
    fake_mnist(first, n=3, gz=gz)
    fake_mnist(second, n=4, gz=gz)
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "b"))
    assert len(mnist("train", data_dir=first)) == 3
    assert len(mnist("train")) == 4
    assert len(load_dataset("mnist", "train")) == 4


def test_missing_files_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("MINICNN_DATA", raising=False)
    with pytest.raises(DataMissing, match=r"mnist: data files not found\. Looked in: .*\.minicnn/data/mnist\. "
                                          r"Put train-images-idx3-ubyte, train-labels-idx1-ubyte \(or their \.gz "
                                          r"versions\) in one of them\. Nothing is downloaded unless asked: "
                                          r"`python -m minicnn.data.fetch mnist` downloads them"):
        mnist("train")
    monkeypatch.setattr(datasets, "DEBIAN_FASHION", str(tmp_path / "not-installed"))
    with pytest.raises(DataMissing, match=r"or install Debian's package: apt-get install dataset-fashion-mnist\. "
                                          r"Nothing is downloaded unless asked: `python -m minicnn.data.fetch "
                                          r"fashion-mnist`"):
        fashion_mnist("test")
    with pytest.raises(DataMissing, match=r"Put test_batch.bin, batches.meta.txt in one of them\. .*"
                                          r"`python -m minicnn.data.fetch cifar10`"):
        cifar10("test")


def test_corrupted_idx_files_are_named(tmp_path):
    good = tmp_path / "x.gz"
    write_idx(good, np.zeros((2, 28, 28)))
    assert read_idx(good).shape == (2, 28, 28)
    raw = gzip.decompress(good.read_bytes())
    (tmp_path / "short").write_bytes(raw[:-10])
    with pytest.raises(DataError, match=r"short is truncated or corrupted: its header promises shape \(2, 28, 28\)"):
        read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(DataError, match="magic is not an IDX file: bad magic number 0102"):
        read_idx(tmp_path / "magic")
    (tmp_path / "broken.gz").write_bytes(good.read_bytes()[:40])
    with pytest.raises(DataError, match="cannot read IDX file .*broken.gz"):
        read_idx(tmp_path / "broken.gz")


def test_a_flipped_byte_inside_a_gz_file_names_the_file(tmp_path):
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    write_idx(labels, np.arange(5000) % 10)
    damaged = bytearray(labels.read_bytes())
    damaged[len(damaged) // 2] ^= 0x01                # inside the deflate stream: zlib.error, not OSError
    labels.write_bytes(bytes(damaged))
    with pytest.raises(DataError, match=f"cannot read IDX file {labels} .damaged. download it again.: Error -3"):
        read_idx(labels)


def test_label_out_of_range_is_an_error(tmp_path):
    fake_mnist(tmp_path, n=3, labels=np.array([1, 2, 12]))
    with pytest.raises(DataError, match="has label 12, outside \\[0, 10\\)"):
        mnist("train", data_dir=tmp_path)


def write_cifar(folder, files, label_bytes, n, classes):
    rng = np.random.default_rng(0)
    for name in files:
        rows = np.concatenate([rng.integers(0, len(classes), (n, label_bytes)), rng.integers(0, 256, (n, 3072))], 1)
        (folder / name).write_bytes(rows.astype(np.uint8).tobytes())


def test_cifar_binary_archives(tmp_path):
    c10, c100 = tmp_path / "c10", tmp_path / "c100"
    c10.mkdir()
    c100.mkdir()
    write_cifar(c10, [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"], 1, 4, range(10))
    (c10 / "batches.meta.txt").write_text("\n".join(f"class{i}" for i in range(10)) + "\n\n")
    train = cifar10("train", c10)
    assert train.images.shape == (20, 3, 32, 32) and len(train.classes) == 10
    write_cifar(c100, ["train.bin", "test.bin"], 2, 3, range(100))
    (c100 / "fine_label_names.txt").write_text("\n".join(f"c{i}" for i in range(100)))
    assert cifar100("test", c100).labels.max() < 100
    (c10 / "test_batch.bin").write_bytes(b"\x00" * 100)
    with pytest.raises(DataError, match="test_batch.bin has 100 bytes, not a whole number of 3073-byte records"):
        cifar10("test", c10)


def test_image_folder(tmp_path):
    from PIL import Image
    for cls, colour in [("cat", (255, 0, 0)), ("dog", (0, 0, 255))]:
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.new("RGB", (8, 6), colour).save(tmp_path / cls / f"{i}.png")
    data = image_folder(tmp_path)
    assert data.images.shape == (4, 3, 6, 8) and data.classes == ["cat", "dog"]
    assert data.labels.tolist() == [0, 0, 1, 1] and data.images[0, 0].max() == 255
    Image.new("RGB", (5, 5)).save(tmp_path / "dog" / "odd.png")
    with pytest.raises(DataError, match="odd.png is 5x5, the first image is 6x8"):
        image_folder(tmp_path)
    assert image_folder(tmp_path, size=(4, 4)).images.shape == (5, 3, 4, 4)
