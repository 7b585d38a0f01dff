"""conv2d forward and forward+backward: minicnn (im2col + GEMM on NumPy) vs PyTorch CPU, same run.

    python benchmarks/conv.py [--repeats 7] [--threads 2]

Each implementation is timed in its own block (alternating them lets one library's idle
BLAS/OpenMP threads steal a core from the other). Writes benchmarks/results/conv_cpu.json.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import minicnn as mc  # noqa: E402
from common import machine_info, median_ms, write_json  # noqa: E402

# (name, (N, C, H, W), OC, kernel, stride, padding)
SHAPES = [
    ("lenet5_conv1", (64, 1, 28, 28), 6, 5, 1, 2),
    ("resnet20_stage1", (64, 16, 32, 32), 16, 3, 1, 1),
    ("vgg_64ch_16x16", (64, 64, 16, 16), 64, 3, 1, 1),
    ("resnet_64ch_56x56", (32, 64, 56, 56), 64, 3, 1, 1),
    ("resnet_256ch_14x14", (32, 256, 14, 14), 256, 3, 1, 1),
]


def minicnn_case(x, w, stride, padding):
    tx, tw = mc.Tensor(x, requires_grad=True), mc.Tensor(w, requires_grad=True)

    def forward():
        with mc.no_grad():
            mc.ops.conv2d(tx, tw, stride=stride, padding=padding)

    def forward_backward():
        y = mc.ops.conv2d(tx, tw, stride=stride, padding=padding)
        y.backward(np.ones(y.shape, x.dtype))
        tx.grad = tw.grad = None

    return forward, forward_backward


def torch_case(x, w, stride, padding):
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)

    def forward():
        with torch.no_grad():
            F.conv2d(tx, tw, stride=stride, padding=padding)

    def forward_backward():
        y = F.conv2d(tx, tw, stride=stride, padding=padding)
        y.backward(torch.ones_like(y))
        tx.grad = tw.grad = None

    return forward, forward_backward


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results", "conv_cpu.json"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    rows = []
    print(f"{'shape':<22}{'minicnn fwd':>12}{'torch fwd':>11}{'ratio':>7}{'minicnn f+b':>13}{'torch f+b':>11}{'ratio':>7}")
    for name, (N, C, H, W), OC, k, s, p in SHAPES:
        x = rng.standard_normal((N, C, H, W)).astype(np.float32)
        w = (rng.standard_normal((OC, C, k, k)) * 0.1).astype(np.float32)
        ours = [median_ms(f, args.repeats) for f in minicnn_case(x, w, s, p)]
        theirs = [median_ms(f, args.repeats) for f in torch_case(x, w, s, p)]
        row = {"name": name, "input": [N, C, H, W], "out_channels": OC, "kernel": k, "stride": s, "padding": p,
               "minicnn_forward_ms": ours[0], "torch_forward_ms": theirs[0],
               "minicnn_fwd_bwd_ms": ours[1], "torch_fwd_bwd_ms": theirs[1],
               "ratio_forward": ours[0] / theirs[0], "ratio_fwd_bwd": ours[1] / theirs[1]}
        rows.append(row)
        print(f"{name:<22}{ours[0]:>12.1f}{theirs[0]:>11.1f}{row['ratio_forward']:>6.1f}x"
              f"{ours[1]:>13.1f}{theirs[1]:>11.1f}{row['ratio_fwd_bwd']:>6.1f}x")
    write_json(args.out, {"benchmark": "conv2d float32, ms, median of repeats", "repeats": args.repeats,
                          "machine": machine_info(args.threads), "results": rows})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
