"""Training recipes: each architecture's defaults from its paper, scaled to small datasets, and the
choices every command (train, evaluate, predict) must make the same way: input size and transforms.

Papers' recipes, as used here (epochs and batch sizes are scaled down for Fashion-MNIST-size data):
- LeNet-5: SGD with momentum, cosine decay, no augmentation (the 1998 paper used none).
- AlexNet, ZFNet, VGG: SGD lr 0.01, momentum 0.9, weight decay 5e-4, lr / 10 when validation stalls.
- GoogLeNet: SGD momentum 0.9, lr decreased by 4% every 8 epochs, auxiliary losses weighted 0.3.
- Inception v2/v3: RMSprop (decay 0.9, eps 1.0), lr 0.045 decayed by 0.94 every 2 epochs; v3 adds
  label smoothing 0.1 and gradient clipping at 2.0.
- ResNet and DenseNet: SGD lr 0.1, momentum 0.9, weight decay 1e-4, lr / 10 at 50% and 75% of
  training (CIFAR ResNets: iterations 32k and 48k of 64k).
"""
from minicnn import models
from minicnn.data import transforms as T

__all__ = ["defaults", "input_size", "make_transform"]

_SGD = dict(optimizer="sgd", lr=0.01, momentum=0.9, weight_decay=5e-4, schedule="plateau", label_smoothing=0.0,
            clip=0.0, epochs=30, batch_size=64, augment=True)

_FAMILIES = [
    ("lenet", dict(_SGD, lr=0.05, epochs=10, schedule="cosine", augment=False)),     # 1998: no augmentation
    ("alexnet", _SGD), ("zfnet", _SGD), ("vgg", _SGD),
    ("googlenet", dict(_SGD, weight_decay=2e-4, schedule="googlenet")),
    ("inception_v2", dict(_SGD, optimizer="rmsprop", lr=0.045, weight_decay=4e-5, schedule="inception")),
    ("inception_v3", dict(_SGD, optimizer="rmsprop", lr=0.045, weight_decay=4e-5, schedule="inception",
                          label_smoothing=0.1, clip=2.0)),
    ("resnet", dict(_SGD, lr=0.1, weight_decay=1e-4, schedule="multistep")),
    ("plain", dict(_SGD, lr=0.1, weight_decay=1e-4, schedule="multistep")),
    ("densenet", dict(_SGD, lr=0.1, weight_decay=1e-4, schedule="multistep")),
]


def defaults(arch):
    """The training defaults for ``arch`` (a copy: the caller may change it)."""
    for prefix, recipe in _FAMILIES:
        if arch.startswith(prefix):
            return dict(recipe)
    return dict(_SGD)


def input_size(arch, image_size):
    """The H = W a model is trained at, given the dataset's image size (the model zoo's contract):
    fixed-size models (LeNet-5, the lecture AlexNet) get their own size; models that need large
    inputs (AlexNet, GoogLeNet, Inception) get the paper's size; the rest take the data at >= 32."""
    spec = models.info(arch)
    native = spec.input_size[1]
    if spec.min_size == native or spec.min_size > 32:
        return native
    return max(image_size, 32)


def make_transform(dataset_name, channels, size, image_size, train, flip=True):
    """Resize to the model's size, scale to [0, 1], normalise; with ``train`` (augmentation on),
    CIFAR-style shifts (pad 4 + random crop, scaled with the size) and, when ``flip``, mirroring."""
    steps = [T.Resize(size)] if size != image_size else []
    steps.append(T.ToFloat())
    mean, std = T.STATS.get(dataset_name, ((0.5,) * channels, (0.5,) * channels))
    steps.append(T.Normalize(mean, std))
    if train:
        steps.append(T.RandomCrop(size, padding=max(1, size // 8)))
        if flip:
            steps.append(T.RandomHorizontalFlip())
    return T.Compose(steps)
