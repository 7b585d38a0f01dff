"""Evaluate a trained model on its dataset's test split:
``python -m minicnn.evaluate --checkpoint runs/<arch>-<time>/best.safetensors``.

The model is rebuilt from the checkpoint's training config (architecture, classes, input size),
and the test images get exactly the transform that training used for validation
(``recipes.make_transform(..., train=False)``: resize to the model's size, scale, normalise).
Printed: the test loss (cross-entropy of the predicted probabilities, without the label smoothing
some recipes train with), top-1 and top-5 accuracy, accuracy per class, and the confusion matrix
(rows: true class, columns: predicted class). Written next to the checkpoint (or into ``--out``):
evaluation.json (all of it, plus each test image's predicted class) and confusion.png.

``--ten-crop`` is AlexNet's test-time augmentation (Krizhevsky et al. 2012, section 4.1: "the
network makes a prediction by extracting five 224x224 patches (the four corner patches and the
center patch) as well as their horizontal reflections (hence ten patches in all), and averaging the
predictions made by the network's softmax layer on the ten patches"). AlexNet cut 224-pixel crops
from 256-pixel images; here each image is resized to round(S * 256 / 224) for a model input of S
(28 -> 32, 32 -> 37, 224 -> 256), normalised as in training, cut into the ten S x S crops
(``transforms.TenCrop``), and the ten softmax outputs are averaged:
p(class | image) = (1/10) sum_crops softmax(model(crop)). Loss and accuracy use that average.
It helps models trained with shifts and flips (``--augment``); for one trained without them
(LeNet's recipe) the shifted and mirrored views are new to it and can lower the accuracy.

The model comes back from the checkpoint through ``minicnn.trained.load_trained``; ``score``
(loss, accuracies, per-class accuracy, confusion matrix) is shared with ``python -m minicnn.train``,
which scores the test set once at the end of a run.
"""
import math
import os
import sys

import numpy as np

import minicnn as mc
from minicnn import backend, models, recipes
from minicnn.data import DataError, DataLoader, load_dataset
from minicnn.data import transforms as T
from minicnn.atomic import save_figure, write_json
from minicnn.cli import Parser, load_for_command
from minicnn.progress import progress_bar

__all__ = ["main", "build_parser", "score", "ten_crop_resize"]

def ten_crop_resize(size):
    """The size images are resized to before ten-cropping ``size`` x ``size`` views: AlexNet's 256 / 224."""
    return round(size * 256 / 224)


def build_parser():
    p = Parser(prog="python -m minicnn.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a last.safetensors or best.safetensors from minicnn.train")
    p.add_argument("--ten-crop", action="store_true",
                   help="average the softmax of 4 corner + centre crops and their mirrors (AlexNet)")
    p.add_argument("--data-dir", default=None, help="folder holding the dataset's files (default: the training run's)")
    p.add_argument("--batch-size", type=int, default=None, help="default: the training batch size")
    p.add_argument("--subset", type=int, default=None, help="only the first N test images")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default: $MINICNN_DEVICE, else auto: cuda "
                                                    "when available)")
    p.add_argument("--out", default=None, help="folder for evaluation.json and confusion.png "
                                               "(default: the checkpoint's folder)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def predict_log_probs(model, loader, ten_crop, progress=False):
    """log p(class | image) for every image the loader gives: (N, K) NumPy array, and the labels (N,)."""

    log_probs, labels = [], []
    bar = progress_bar(len(loader), "evaluate", progress)
    xp = np                                     # the array module of the batches
    with mc.no_grad():
        for x, y in loader:
            xp = backend.get_array_module(x.array)
            if ten_crop:                                            # x: (10, B, C, S, S)
                crops = xp.stack([mc.ops.log_softmax(model(x[c])).array for c in range(10)])    # (10, B, K)
                top = crops.max(axis=0)                             # log mean_c p_c, without underflow
                lp = top + xp.log(xp.exp(crops - top).sum(axis=0)) - math.log(10)
            else:
                lp = mc.ops.log_softmax(model(x)).array
            log_probs.append(lp)                # kept on the device: one copy to the host at the end
            labels.append(y.array)
            bar.update(1)
    bar.close()
    return (backend.to_device(xp.concatenate(log_probs), "cpu").astype(np.float64),
            backend.to_device(xp.concatenate(labels), "cpu"))


def confusion_matrix(labels, predictions, num_classes):
    """counts[i, j] = the number of images of true class i predicted as class j."""
    pairs = labels * num_classes + predictions
    return np.bincount(pairs, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def score(log_probs, labels, classes):
    """Loss (mean -log p(true class)), top-1, top-5, accuracy per class and the confusion matrix."""
    K = len(classes)
    counts = confusion_matrix(labels, log_probs.argmax(axis=1), K)
    return {"loss": float(-log_probs[np.arange(len(labels)), labels].mean()),
            "top1": mc.ops.accuracy(log_probs, labels), "topk": min(5, K),
            "top5": mc.ops.accuracy(log_probs, labels, topk=min(5, K)), "classes": list(classes),
            "per_class": [{"class": name, "images": int(counts[i].sum()), "correct": int(counts[i, i]),
                           "accuracy": float(counts[i, i] / counts[i].sum()) if counts[i].sum() else None}
                          for i, name in enumerate(classes)],
            "confusion": counts.tolist()}


def report(results):
    """The text the command prints: loss and accuracies, accuracy per class, the confusion matrix."""
    classes, counts, k = results["classes"], np.array(results["confusion"]), results["topk"]
    name_width = max(len(c) for c in classes)
    lines = [f"test loss {results['loss']:.4f}  top-1 {results['top1']:.4f}  top-{k} {results['top5']:.4f}",
             "", "per-class accuracy:"]
    for i, row in enumerate(results["per_class"]):
        shown = "   n/a" if row["accuracy"] is None else f"{row['accuracy']:.4f}"
        lines.append(f"  {i:3d} {row['class']:<{name_width}}  {shown}  ({row['correct']}/{row['images']})")
    width = max(3, len(str(counts.max())) + 1)
    lines += ["", "confusion matrix (rows: true class, columns: predicted class):",
              " " * (6 + name_width) + "".join(f"{j:>{width}d}" for j in range(len(classes)))]
    for i, name in enumerate(classes):
        lines.append(f"  {i:3d} {name:<{name_width}}" + "".join(f"{c:>{width}d}" for c in counts[i]))
    return "\n".join(lines)


def plot_confusion(counts, classes, path, title):
    """confusion.png: counts in the cells (up to 30 classes), class names on both axes; written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    K = len(classes)
    side = min(4 + 0.55 * K, 24)
    fig, ax = plt.subplots(figsize=(side + 1.5, side))
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(K), classes, rotation=45, ha="right", rotation_mode="anchor", fontsize=8 if K <= 30 else 5)
    ax.set_yticks(range(K), classes, fontsize=8 if K <= 30 else 5)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    if K <= 30:
        threshold = counts.max() / 2
        for i in range(K):
            for j in range(K):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if counts[i, j] > threshold else "black")
    save_figure(fig, path)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    for flag, value in (("--batch-size", args.batch_size), ("--subset", args.subset)):
        if value is not None and value < 1:
            parser.error(f"{flag} must be >= 1, got {value}")
    model, config, device = load_for_command("evaluate", args.checkpoint, args.device)
    channels, size = config["input_size"][0], config["input_size"][1]
    classes, K = config["classes"], len(config["classes"])
    try:
        test = load_dataset(config["dataset"], "test", args.data_dir or config.get("data_dir"))
    except (DataError, ValueError) as e:
        raise SystemExit(f"minicnn evaluate: {e}")
    if args.subset:
        test = test.subset(args.subset)
    image_size = test.images.shape[2]
    if test.images.shape[1] != channels or list(test.classes) != list(classes):
        raise SystemExit(f"minicnn evaluate: the test images of {config['dataset']} ({test.images.shape[1]} channels, "
                         f"{len(test.classes)} classes) do not match the checkpoint's model ({channels} channels, "
                         f"{K} classes)")
    if args.ten_crop:
        big = ten_crop_resize(size)
        transform = T.Compose([recipes.make_transform(config["dataset"], channels, big, image_size, train=False),
                               T.TenCrop(size)])
        view = f"ten-crop: resized to {big}x{big}, 4 corner + centre {size}x{size} crops and their mirrors"
    else:
        transform = recipes.make_transform(config["dataset"], channels, size, image_size, train=False)
        view = "one view, the validation transform of training"
    loader = DataLoader(test, args.batch_size or config.get("batch_size") or 64, transform=transform, device=device)

    print(f"minicnn evaluate: {config['arch']} from {args.checkpoint} on {backend.device_name(device)}", flush=True)
    print(f"{len(test)} test images of {config['dataset']}, input {tuple(config['input_size'])}; {view}", flush=True)
    if args.ten_crop and not config.get("augment", True):
        print("note: this model was trained without shifts or flips; the ten crops show it views it has not seen")

    progress = not args.no_progress and sys.stderr.isatty()
    log_probs, labels = predict_log_probs(model, loader, args.ten_crop, progress)
    predictions = log_probs.argmax(axis=1)
    results = {"checkpoint": os.path.abspath(args.checkpoint), "arch": config["arch"], "dataset": config["dataset"],
               "split": "test", "images": len(labels), "ten_crop": args.ten_crop,
               "input_size": list(config["input_size"]), **score(log_probs, labels, classes),
               "predictions": predictions.tolist()}
    counts = np.array(results["confusion"])
    print(report(results))

    out = args.out or os.path.dirname(os.path.abspath(args.checkpoint))
    try:
        os.makedirs(out, exist_ok=True)
        write_json(results, os.path.join(out, "evaluation.json"))
        title = f"{config['arch']} on {config['dataset']} test: top-1 {results['top1']:.4f}" + \
            (" (ten-crop)" if args.ten_crop else "")
        plot_confusion(counts, classes, os.path.join(out, "confusion.png"), title)
    except OSError as e:
        raise SystemExit(f"minicnn evaluate: cannot write to {out}: {e}; choose another folder with --out")
    print(f"\nwrote {os.path.join(out, 'evaluation.json')} and {os.path.join(out, 'confusion.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
