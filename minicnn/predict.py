"""Classify image files with a trained model:
``python -m minicnn.predict --checkpoint runs/<arch>-<time>/best.safetensors shoe.png bag.jpg``.

Each image is read with Pillow, converted to grey ("L") for a 1-channel model or to "RGB" for a
3-channel one, resized to the image size of the dataset the model was trained on (28x28 for
(Fashion-)MNIST, 32x32 for CIFAR; a non-square image is stretched, not cropped), and then given
exactly the transform training used for validation (``recipes.make_transform(..., train=False)``:
resize to the model's input size, scale to [0, 1], normalise with the dataset's statistics).
Printed for each image: its ``--top`` K most probable classes with their softmax probabilities.
An image that cannot be read (missing, not an image, truncated) does not stop the others: every
readable image is classified, the unreadable ones are listed at the end, and the exit code is 1.

The model only knows images like those it was trained on. Fashion-MNIST images are grey, centred
garments, white (bright) on a black background, filling most of the square: a photo of a shoe on a
white table should be cropped to the shoe and inverted (``PIL.ImageOps.invert``) first, or its
predictions mean little.
"""
import sys

import numpy as np

import minicnn as mc
from minicnn import backend, recipes
from minicnn.cli import Parser, load_for_command

__all__ = ["main", "build_parser", "load_images"]


def build_parser():
    p = Parser(prog="python -m minicnn.predict", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a last.safetensors or best.safetensors from minicnn.train")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="PNG, JPEG or any image file Pillow reads")
    p.add_argument("--top", type=int, default=5, help="how many classes to show per image (default: 5)")
    p.add_argument("--device", default=None, help="cpu, cuda or auto (default: $MINICNN_DEVICE, else cpu: for a "
                                                    "few images it starts quickest)")
    return p


def image_size(config):
    """The square size images are brought to before the validation transform: the training images'
    own size, which minicnn.train records (the model's input size for older checkpoints)."""
    return config.get("image_size") or config["input_size"][1]


def load_images(paths, channels, size):
    """uint8 (N, channels, size, size) from the image files Pillow can read, the paths of those,
    and (path, reason) for each one it cannot read."""
    from PIL import Image

    arrays, read, failed = [], [], []
    for path in paths:
        try:
            with Image.open(path) as img:
                img = img.convert("L" if channels == 1 else "RGB")
                if img.size != (size, size):
                    img = img.resize((size, size), Image.BILINEAR)
                array = np.asarray(img, np.uint8)
        except (OSError, ValueError) as e:      # missing, not an image, truncated (UnidentifiedImageError: OSError)
            failed.append((path, str(e)))
            continue
        arrays.append(array[None] if channels == 1 else array.transpose(2, 0, 1))
        read.append(path)
    images = np.stack(arrays) if arrays else np.zeros((0, channels, size, size), np.uint8)
    return images, read, failed


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.top < 1:
        parser.error(f"--top must be >= 1, got {args.top}")
    model, config, device = load_for_command("predict", args.checkpoint, args.device)
    channels, size = config["input_size"][0], config["input_size"][1]
    if channels not in (1, 3):
        raise SystemExit(f"minicnn predict: the model takes {channels}-channel images; only grey (1) and RGB (3) "
                         "images can be read from files")
    native = image_size(config)
    images, read, failed = load_images(args.images, channels, native)
    if read:
        # On stderr: stdout stays the list of predictions, for scripts that read it.
        print(f"minicnn predict: {config['arch']} from {args.checkpoint} on {backend.device_name(device)}",
              file=sys.stderr)
        transform = recipes.make_transform(config["dataset"], channels, size, native, train=False)
        with mc.no_grad():
            probs = mc.ops.softmax(model(mc.Tensor(transform(images), device=device))).numpy()
        classes = config["classes"]
        k = min(args.top, len(classes))
        name_width = max(len(c) for c in classes)
        for path, p in zip(read, probs):
            print(f"{path}:")
            for c in np.argsort(-p, kind="stable")[:k]:         # ties: the lower class index first, as argmax
                print(f"  {p[c]:.4f}  {classes[c]:<{name_width}}  (class {c})")
    if failed:
        print(f"minicnn predict: {len(failed)} of {len(args.images)} image(s) could not be read:", file=sys.stderr)
        for path, reason in failed:
            print(f"  {path}: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
