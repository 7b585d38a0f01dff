"""A first run: train a tiny CNN written directly with minicnn's ops on a synthetic task.

    python -m minicnn.demo [--steps 150] [--device cpu]

The task: 12x12 images holding a noisy horizontal bar, vertical bar or diagonal line
(3 classes). The network is conv -> relu -> max-pool -> conv -> relu -> global average
pool -> linear, its parameters plain Tensors updated by hand-written SGD, so every line
of the training step is visible here. The Module/Optimizer layer wraps exactly this.
"""
import time

import numpy as np

import minicnn as mc
from minicnn import ops
from minicnn.cli import Parser, use_device

SIZE, CLASSES = 12, 3


def make_batch(rng, n):
    """Images (n, 1, SIZE, SIZE) float32 and labels (n,): 0 horizontal, 1 vertical, 2 diagonal."""
    labels = rng.integers(0, CLASSES, n)
    images = rng.normal(0.0, 0.3, (n, 1, SIZE, SIZE)).astype(np.float32)
    for i, (label, pos) in enumerate(zip(labels, rng.integers(2, SIZE - 2, n))):
        if label == 0:
            images[i, 0, pos, :] += 1.0
        elif label == 1:
            images[i, 0, :, pos] += 1.0
        else:
            images[i, 0, np.arange(SIZE), np.arange(SIZE)] += 1.0
    return images, labels


def he_normal(rng, shape, fan_in, device):
    """Kaiming/He initialisation: std = sqrt(2 / fan_in), which keeps ReLU activations' scale."""
    data = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
    return mc.Tensor(data, requires_grad=True, device=device)


def init_params(rng, device):
    zeros = lambda n: mc.Tensor(np.zeros(n, np.float32), requires_grad=True, device=device)  # noqa: E731
    return {
        "conv1.weight": he_normal(rng, (8, 1, 3, 3), 9, device), "conv1.bias": zeros(8),
        "conv2.weight": he_normal(rng, (16, 8, 3, 3), 72, device), "conv2.bias": zeros(16),
        "fc.weight": he_normal(rng, (CLASSES, 16), 16, device), "fc.bias": zeros(CLASSES),
    }


def forward(p, x):
    h = ops.relu(ops.conv2d(x, p["conv1.weight"], p["conv1.bias"], padding=1))   # (N, 8, 12, 12)
    h = ops.max_pool2d(h, 2)                                                     # (N, 8, 6, 6)
    h = ops.relu(ops.conv2d(h, p["conv2.weight"], p["conv2.bias"], padding=1))   # (N, 16, 6, 6)
    h = ops.flatten(ops.global_avg_pool2d(h))                                    # (N, 16)
    return ops.linear(h, p["fc.weight"], p["fc.bias"])                           # (N, 3) logits


def main(argv=None):
    parser = Parser(prog="python -m minicnn.demo", description="Train a tiny CNN on synthetic bars (minicnn demo).")
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--device", default=None, help="cpu, cuda or auto (default: $MINICNN_DEVICE, else cpu)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.device = use_device("demo", args.device, default="cpu")

    rng = np.random.default_rng(args.seed)
    params = init_params(rng, args.device)
    print(f"minicnn demo on {args.device}: {sum(p.numel() for p in params.values())} parameters, "
          f"{args.steps} SGD steps of batch {args.batch_size}")
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        images, labels = make_batch(rng, args.batch_size)
        loss = ops.cross_entropy(forward(params, mc.Tensor(images, device=args.device)),
                                 mc.Tensor(labels, device=args.device))
        for p in params.values():
            p.grad = None
        loss.backward()
        for p in params.values():                      # plain SGD: p <- p - lr * dL/dp
            p.array -= args.lr * p.grad.array
        if step % 25 == 0 or step == 1:
            print(f"step {step:4d}  loss {loss.item():.4f}")

    images, labels = make_batch(rng, 500)
    with mc.no_grad():
        logits = forward(params, mc.Tensor(images, device=args.device))
    accuracy = ops.accuracy(logits, mc.Tensor(labels, device=args.device))
    print(f"held-out accuracy {accuracy:.1%} (chance {1 / CLASSES:.1%}) in {time.perf_counter() - start:.1f} s")
    return accuracy


if __name__ == "__main__":
    main()
