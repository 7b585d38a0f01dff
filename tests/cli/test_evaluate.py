"""python -m minicnn.evaluate on a LeNet-5 trained for one epoch on 640 real Fashion-MNIST images."""
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
from minicnn import evaluate, recipes, train
from minicnn.data import ArrayDataset, DataLoader, fashion_mnist
from minicnn.data import transforms as T
from minicnn.data.datasets import DEBIAN_FASHION, FASHION_CLASSES

needs_data = pytest.mark.skipif(not os.path.isdir(DEBIAN_FASHION),
                                reason="Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
SUBSET = 640


def run(argv):
    """evaluate.main's return code and what it printed (module-scoped fixtures cannot use capsys)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = evaluate.main(argv)
    return code, out.getvalue()


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    with contextlib.redirect_stdout(io.StringIO()):
        assert train.main(["--arch", "lenet5_28", "--subset", str(SUBSET), "--epochs", "1", "--batch-size", "32",
                           "--lr", "0.05", "--no-progress", "--out", str(out)]) == 0
    (folder,) = os.listdir(out)
    return os.path.join(out, folder, "best.safetensors")


@pytest.fixture(scope="module")
def evaluated(checkpoint, tmp_path_factory):
    out = tmp_path_factory.mktemp("evaluation")
    code, text = run(["--checkpoint", checkpoint, "--subset", str(SUBSET), "--no-progress", "--out", str(out)])
    assert code == 0
    return text, out


def parse(text):
    """(loss, top1, top5), per-class rows (index, name, correct, images), confusion matrix rows."""
    loss, top1, top5 = map(float, re.search(r"test loss ([\d.]+)  top-1 ([\d.]+)  top-5 ([\d.]+)", text).groups())
    per_class = [(int(i), name, int(c), int(n)) for i, name, c, n in
                 re.findall(r"^ +(\d+) (\S.*?) +(?:[\d.]+|n/a)  \((\d+)/(\d+)\)$", text, re.M)]
    matrix_text = text.split("confusion matrix (rows: true class, columns: predicted class):\n")[1]
    rows = [line.split()[-10:] for line in matrix_text.splitlines()[1:11]]
    return (loss, top1, top5), per_class, np.array(rows, dtype=np.int64)


@needs_data
def test_metrics_per_class_accuracy_and_confusion_matrix_agree(evaluated, checkpoint):
    text, _ = evaluated
    assert text.startswith("minicnn evaluate: lenet5_28 from ") and f"{SUBSET} test images of fashion-mnist" in text
    (loss, top1, top5), per_class, confusion = parse(text)
    # Training scored the same best checkpoint on the same first 640 test images, with the same transform.
    tested = json.load(open(os.path.join(os.path.dirname(checkpoint), "test.json")))
    assert loss == pytest.approx(tested["loss"], abs=1e-4) and top1 == pytest.approx(tested["top1"], abs=1e-4)
    assert 0.1 < top1 <= top5 <= 1
    labels = fashion_mnist("test").labels[:SUBSET]
    assert [name for _, name, _, _ in per_class] == FASHION_CLASSES
    assert [n for *_, n in per_class] == np.bincount(labels, minlength=10).tolist()
    assert confusion.shape == (10, 10)
    assert confusion.sum(axis=1).tolist() == [n for *_, n in per_class]
    assert np.diag(confusion).tolist() == [c for _, _, c, _ in per_class]
    assert np.trace(confusion) / confusion.sum() == pytest.approx(top1, abs=5e-5)


@needs_data
def test_writes_evaluation_json_and_confusion_png(evaluated):
    text, out = evaluated
    assert sorted(os.listdir(out)) == ["confusion.png", "evaluation.json"]       # no temporary files left
    result = json.load(open(out / "evaluation.json"))
    _, _, confusion = parse(text)
    assert result["confusion"] == confusion.tolist() and result["classes"] == FASHION_CLASSES
    assert len(result["predictions"]) == SUBSET and result["ten_crop"] is False
    assert np.bincount(result["predictions"], minlength=10).tolist() == confusion.sum(axis=0).tolist()
    with Image.open(out / "confusion.png") as png:
        assert png.format == "PNG" and min(png.size) >= 400


@needs_data
def test_ten_crop_averages_ten_views_and_stays_well_above_chance(checkpoint, evaluated, tmp_path):
    code, text = run(["--checkpoint", checkpoint, "--subset", "200", "--ten-crop", "--no-progress",
                      "--batch-size", "100", "--out", str(tmp_path)])
    assert code == 0 and "ten-crop: resized to 32x32, 4 corner + centre 28x28 crops" in text
    (loss, top1, top5), per_class, confusion = parse(text)
    assert top1 > 0.2 and confusion.sum() == 200            # chance is 0.1
    assert loss != pytest.approx(parse(evaluated[0])[0][0], abs=1e-3)          # not the single-view numbers
    assert json.load(open(tmp_path / "evaluation.json"))["ten_crop"] is True


def test_ten_crop_averages_probabilities_not_logits():
    mc.manual_seed(0)
    model = mc.models.get("lenet5_28").eval()
    for p in model.parameters():                  # sharpen the random model so that the two averages differ
        p.array *= 3
    images = np.random.default_rng(0).integers(0, 256, (6, 1, 28, 28), dtype=np.uint8)
    dataset = ArrayDataset(images, np.zeros(6, np.int64), FASHION_CLASSES, "random")
    transform = T.Compose([recipes.make_transform("fashion-mnist", 1, 32, 28, train=False), T.TenCrop(28)])
    log_p, _ = evaluate.predict_log_probs(model, DataLoader(dataset, 4, transform=transform), ten_crop=True)
    crops = transform(images)
    assert crops.shape == (10, 6, 1, 28, 28)
    with mc.no_grad():
        logits = np.stack([model(mc.Tensor(c)).array for c in crops]).astype(np.float64)     # (10, N, K)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    np.testing.assert_allclose(log_p, np.log(probs.mean(0)), rtol=1e-5, atol=1e-6)
    mean_logits = logits.mean(0)
    assert not np.allclose(log_p, mean_logits - np.log(np.exp(mean_logits).sum(-1, keepdims=True)), atol=1e-4)


def test_missing_corrupted_and_non_training_checkpoints_are_named(tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(SystemExit, match=f"{re.escape(str(missing))} does not exist"):
        evaluate.main(["--checkpoint", str(missing)])
    corrupted = tmp_path / "corrupted.safetensors"
    corrupted.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(SystemExit, match=f"{re.escape(str(corrupted))} is not a valid safetensors file"):
        evaluate.main(["--checkpoint", str(corrupted)])
    plain = tmp_path / "weights.safetensors"
    mc.save(mc.models.get("lenet5_28").state_dict(), plain)              # weights only: no training config
    with pytest.raises(SystemExit, match=f"{re.escape(str(plain))} is not a minicnn training checkpoint"):
        evaluate.main(["--checkpoint", str(plain)])


def test_command_line_entry_point_reports_errors_on_stderr(tmp_path):
    missing = tmp_path / "nothing.safetensors"
    done = subprocess.run([sys.executable, "-m", "minicnn.evaluate", "--checkpoint", str(missing)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and str(missing) in done.stderr and "Traceback" not in done.stderr
