"""python -m minicnn.predict on PNG files cut from the real Fashion-MNIST test set."""
import contextlib
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import minicnn as mc
from minicnn import evaluate, predict, train
from minicnn.data import fashion_mnist
from minicnn.data.datasets import DEBIAN_FASHION, FASHION_CLASSES

needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
LINE = re.compile(r"^  (\d\.\d{4})  (\S.*?) +\(class (\d+)\)$")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main(["--arch", "lenet5_28", "--subset", "640", "--epochs", "1", "--batch-size", "32",
                           "--lr", "0.05", "--no-progress", "--out", str(out)]) == 0
    (folder,) = os.listdir(out)
    return os.path.join(out, folder, "best.safetensors")


@pytest.fixture
def untrained_checkpoint(tmp_path):
    """A checkpoint in train's format around a fresh LeNet-5: enough for the tests that need no data."""
    mc.manual_seed(0)
    path = tmp_path / "untrained.safetensors"
    mc.save({"model": mc.models.get("lenet5_28").state_dict(), "epoch": 0,
             "config": {"arch": "lenet5_28", "dataset": "fashion-mnist", "data_dir": None, "input_size": [1, 28, 28],
                        "classes": FASHION_CLASSES}}, path)
    return str(path)


def parse(text):
    """{image path: [(probability, class name, class index), ...]} from predict's output."""
    result, current = {}, None
    for line in text.splitlines():
        match = LINE.match(line)
        if match:
            result[current].append((float(match[1]), match[2], int(match[3])))
        else:
            assert line.endswith(":"), line
            current = line[:-1]
            result[current] = []
    return result


@needs_data
def test_top_k_classes_match_evaluation_for_test_images(checkpoint, tmp_path, capsys):
    assert evaluate.main(["--checkpoint", checkpoint, "--subset", "100", "--no-progress", "--out", str(tmp_path)]) == 0
    predicted = json.load(open(tmp_path / "evaluation.json"))["predictions"]
    test = fashion_mnist("test")
    clear = [i for i in range(100) if predicted[i] == test.labels[i]][:4]       # images the model gets right
    assert len(clear) == 4
    paths = []
    for i in clear:
        paths.append(str(tmp_path / f"test{i}.png"))
        Image.fromarray(test.images[i, 0]).save(paths[-1])
    capsys.readouterr()
    assert predict.main(["--checkpoint", checkpoint, *paths, "--top", "3"]) == 0
    shown = parse(capsys.readouterr().out)
    assert list(shown) == paths
    for i, path in zip(clear, paths):
        probabilities = [p for p, _, _ in shown[path]]
        assert len(shown[path]) == 3 and probabilities == sorted(probabilities, reverse=True)
        assert 0 < sum(probabilities) <= 1 + 1e-3
        _, name, index = shown[path][0]
        assert index == predicted[i] == test.labels[i] and name == FASHION_CLASSES[index]


@needs_data
def test_an_rgb_copy_of_a_grey_image_gives_the_same_answer(checkpoint, tmp_path, capsys):
    image = Image.fromarray(fashion_mnist("test").images[0, 0])
    image.save(tmp_path / "grey.png")
    image.convert("RGB").save(tmp_path / "rgb.png")          # R = G = B: converting back to L is exact
    assert predict.main(["--checkpoint", checkpoint, str(tmp_path / "grey.png"), str(tmp_path / "rgb.png")]) == 0
    grey, rgb = parse(capsys.readouterr().out).values()
    assert len(grey) == 5 and grey == rgb                   # the default --top is 5


def test_all_classes_sum_to_one_and_top_is_clipped_to_the_classes(untrained_checkpoint, tmp_path, capsys):
    pixels = np.random.default_rng(0).integers(0, 256, (40, 30), dtype=np.uint8)     # not square, not 28x28
    Image.fromarray(pixels).save(tmp_path / "noise.png")
    assert predict.main(["--checkpoint", untrained_checkpoint, str(tmp_path / "noise.png"), "--top", "20"]) == 0
    (rows,) = parse(capsys.readouterr().out).values()
    assert sorted(index for _, _, index in rows) == list(range(10))
    assert sum(p for p, _, _ in rows) == pytest.approx(1, abs=1e-3)


def test_every_readable_image_is_classified_and_the_unreadable_ones_are_listed_at_the_end(untrained_checkpoint,
                                                                                         tmp_path):
    good = [tmp_path / "a.png", tmp_path / "b.png"]
    for i, path in enumerate(good):
        Image.fromarray(np.full((28, 28), 60 * i, np.uint8)).save(path)
    text, missing = tmp_path / "notes.png", tmp_path / "missing.jpg"
    text.write_text("not an image")
    argv = [str(good[0]), str(text), str(missing), str(good[1])]          # the bad ones in the middle
    done = subprocess.run([sys.executable, "-m", "minicnn.predict", "--checkpoint", untrained_checkpoint, *argv],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert list(parse(done.stdout)) == [str(good[0]), str(good[1])]
    assert all(len(rows) == 5 for rows in parse(done.stdout).values())
    said, *listed = done.stderr.splitlines()
    assert said.startswith("minicnn predict: ") and said.endswith(" on " + mc.backend.device_name("cpu"))
    assert listed[0] == "minicnn predict: 2 of 4 image(s) could not be read:"
    assert listed[1].startswith(f"  {text}: ") and listed[2].startswith(f"  {missing}: ")


def test_missing_and_non_training_checkpoints_are_named(tmp_path):
    image = tmp_path / "image.png"
    Image.fromarray(np.zeros((28, 28), np.uint8)).save(image)
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(SystemExit, match=f"{re.escape(str(missing))} does not exist"):
        predict.main(["--checkpoint", str(missing), str(image)])
    plain = tmp_path / "tensors.safetensors"
    mc.save({"weight": np.ones((3, 3), np.float32)}, plain)
    with pytest.raises(SystemExit, match=f"{re.escape(str(plain))} is not a minicnn training checkpoint"):
        predict.main(["--checkpoint", str(plain), str(image)])


def test_top_must_be_positive(untrained_checkpoint, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        predict.main(["--checkpoint", untrained_checkpoint, str(tmp_path / "x.png"), "--top", "0"])
    assert exit_info.value.code == 2
