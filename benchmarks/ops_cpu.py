"""Ops on CPU, side by side in one run: minicnn (NumPy reference path and numba fast path),
PyTorch 2.13 CPU and DeZero 0.0.13 (the closest NumPy peer); float32, forward and forward+backward.

    python benchmarks/ops_cpu.py [--repeats 7] [--threads 2] [--quick]

Each implementation is timed in its own block, median of --repeats after two warm-ups, with the
same number of BLAS / torch threads. For conv2d the table also gives the GFLOP/s reached, the
machine's SGEMM GFLOP/s (a 2048^3 NumPy matmul, the ceiling for im2col), and the share of the
conv's time spent in its GEMMs (the same matrix products timed alone), and the im2col floor:
those GEMMs plus one memory copy of each column array the conv builds (the forward's, the
weight gradient's and the input gradient's), the least any im2col + GEMM design can take here.
Writes benchmarks/results/ops_cpu.{json,md,png}.
"""
import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), ROOT]

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

import minicnn as mc  # noqa: E402
from common import RESULTS, bar_chart, machine_info, markdown_table, median_ms, sgemm_gflops, write_json  # noqa: E402
from minicnn import fast, ops  # noqa: E402
from minicnn.im2col import conv_outsize  # noqa: E402

# name, (N, C, H, W), out channels, kernel, stride, padding
CONVS = [
    ("lenet5 conv2 5x5", (64, 6, 14, 14), 16, 5, 1, 0),
    ("resnet20 3x3 16ch 32x32", (64, 16, 32, 32), 16, 3, 1, 1),
    ("resnet20 3x3 64ch 8x8", (64, 64, 8, 8), 64, 3, 1, 1),
    ("vgg16 3x3 64ch 32x32", (64, 64, 32, 32), 64, 3, 1, 1),
    ("vgg16 3x3 256ch 8x8", (64, 256, 8, 8), 256, 3, 1, 1),
    ("resnet50 3x3 64ch 56x56", (16, 64, 56, 56), 64, 3, 1, 1),
    ("alexnet conv1 11x11/4 227", (16, 3, 227, 227), 96, 11, 4, 0),
]
POOLS = [("vgg16 maxpool 2x2 64ch 32x32", (64, 64, 32, 32), 2, 2),
         ("alexnet maxpool 3x3/2 96ch 55x55", (16, 96, 55, 55), 3, 2)]
NORMS = [("batchnorm 16ch 32x32", (64, 16, 32, 32)), ("batchnorm 64ch 16x16", (64, 64, 16, 16))]


def dezero_module():
    """DeZero 0.0.13 still uses np.int, removed in NumPy 1.24: give it back before importing."""
    if not hasattr(np, "int"):
        np.int = int
    import dezero
    import dezero.functions as DF
    import dezero.functions_conv as DC
    return dezero, DF, DC


def timed_pair(forward, backward_of, repeats):
    """(forward ms, forward+backward ms) for one implementation: backward_of(output) runs backward."""
    return median_ms(forward, repeats), median_ms(lambda: backward_of(forward()), repeats)


def minicnn_cases(op, arrays, kwargs):
    tensors = [mc.Tensor(a, requires_grad=True) for a in arrays]

    def backward(y):
        y.backward(np.ones(y.shape, y.dtype))
        for t in tensors:
            t.grad = None
    return (lambda: op(*tensors, **kwargs)), backward


def torch_cases(op, arrays, kwargs):
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]

    def backward(y):
        y.backward(torch.ones_like(y))
        for t in tensors:
            t.grad = None
    return (lambda: op(*tensors, **kwargs)), backward


def dezero_cases(op, arrays, kwargs):
    dezero, _, _ = dezero_module()
    variables = [dezero.Variable(a) for a in arrays]

    def backward(y):
        y.grad = None
        y.backward()                      # DeZero seeds the output gradient with ones
        for v in variables:
            v.cleargrad()
    return (lambda: op(*variables, **kwargs)), backward


def run_all(name, arrays, impls, repeats):
    """Time every implementation of one op; returns a row of the table."""
    row = {"op": name}
    for label, (cases, op, kwargs, path) in impls.items():
        if path is not None:
            fast.set_enabled(path)
        row[f"{label}_fwd_ms"], row[f"{label}_fwd_bwd_ms"] = timed_pair(*cases(op, arrays, kwargs), repeats)
    fast.set_enabled(True)
    for label in impls:
        if label != "torch":
            row[f"{label}_vs_torch"] = row[f"{label}_fwd_bwd_ms"] / row["torch_fwd_bwd_ms"]
    return row


def conv_gemm_ms(x, w, stride, pad, repeats):
    """The three GEMMs of minicnn's conv2d (forward, weight grad, input grad), timed alone."""
    N, C, H, W = x.shape
    OC, _, K, _ = w.shape
    OH, OW = conv_outsize(H, K, stride, pad, pad), conv_outsize(W, K, stride, pad, pad)
    col = np.ones((C * K * K, N * OH * OW), x.dtype)
    gy = np.ones((OC, N * OH * OW), x.dtype)
    W2 = w.reshape(OC, -1)
    if stride == 1:                       # input grad: flipped kernel against the columns of gy
        gcol, Wt = np.ones((OC * K * K, N * H * W), x.dtype), np.ones((C, OC * K * K), x.dtype)
        input_grad = lambda: Wt @ gcol    # noqa: E731
    else:                                 # input grad: W.T @ gy, then col2im (not a GEMM)
        input_grad = lambda: W2.T @ gy    # noqa: E731
    return median_ms(lambda: W2 @ col, repeats), median_ms(lambda: (gy @ col.T, input_grad()), repeats)


def column_copy_ms(x, w, stride, pad, repeats):
    """One plain copy of each column array conv2d's forward+backward builds: im2col is a gather
    that can go no faster than a copy of its output, and a copy is bound by memory bandwidth."""
    N, C, H, W = x.shape
    OC, _, K, _ = w.shape
    OH, OW = conv_outsize(H, K, stride, pad, pad), conv_outsize(W, K, stride, pad, pad)
    cols = [C * K * K * N * OH * OW] * 2 + [OC * K * K * N * H * W if stride == 1 else C * K * K * N * OH * OW]
    total = 0.0
    for size in cols:
        src, dst = np.ones(size, x.dtype), np.empty(size, x.dtype)
        total += median_ms(lambda: np.copyto(dst, src), repeats)
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="the first shape of each op only (a smoke run)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)
    _, DF, DC = dezero_module()
    rng = np.random.default_rng(0)
    peak = sgemm_gflops()
    print(f"SGEMM peak (NumPy matmul 2048^3, {args.threads} threads): {peak:.0f} GFLOP/s")
    rows = []
    for name, shape, OC, k, s, p in CONVS[:1] if args.quick else CONVS:
        x = rng.standard_normal(shape).astype(np.float32)
        w = (rng.standard_normal((OC, shape[1], k, k)) * 0.1).astype(np.float32)
        row = run_all(name, [x, w], {
            "minicnn_numpy": (minicnn_cases, ops.conv2d, dict(stride=s, padding=p), False),
            "minicnn_fast": (minicnn_cases, ops.conv2d, dict(stride=s, padding=p), True),
            "torch": (torch_cases, F.conv2d, dict(stride=s, padding=p), None),
            "dezero": (dezero_cases, DC.conv2d, dict(stride=s, pad=p), None),
        }, args.repeats)
        OH = conv_outsize(shape[2], k, s, p, p)
        flops = 2 * shape[0] * OC * OH * OH * shape[1] * k * k
        gemm_fwd, gemm_bwd = conv_gemm_ms(x, w, s, p, args.repeats)
        floor = gemm_fwd + gemm_bwd + column_copy_ms(x, w, s, p, args.repeats)
        row.update(minicnn_fwd_bwd_gflops=3 * flops / row["minicnn_fast_fwd_bwd_ms"] / 1e6,
                   gemm_share=(gemm_fwd + gemm_bwd) / row["minicnn_fast_fwd_bwd_ms"],
                   im2col_floor_ms=floor, floor_vs_torch=floor / row["torch_fwd_bwd_ms"],
                   vs_dezero=row["dezero_fwd_bwd_ms"] / row["minicnn_fast_fwd_bwd_ms"])
        rows.append(row)
        print(f"{name:<34} f+b minicnn {row['minicnn_fast_fwd_bwd_ms']:7.1f} ms  torch {row['torch_fwd_bwd_ms']:7.1f}"
              f"  ({row['minicnn_fast_vs_torch']:.2f}x)  dezero {row['dezero_fwd_bwd_ms']:7.1f}"
              f"  {row['minicnn_fwd_bwd_gflops']:.0f} GFLOP/s, GEMM {row['gemm_share']:.0%} of the time,"
              f" im2col floor {floor:.1f} ms ({row['floor_vs_torch']:.2f}x torch)")
    for name, shape, k, s in POOLS[:1] if args.quick else POOLS:
        x = rng.standard_normal(shape).astype(np.float32)
        rows.append(run_all(name, [x], {
            "minicnn_numpy": (minicnn_cases, ops.max_pool2d, dict(kernel_size=k, stride=s), False),
            "minicnn_fast": (minicnn_cases, ops.max_pool2d, dict(kernel_size=k, stride=s), True),
            "torch": (torch_cases, F.max_pool2d, dict(kernel_size=k, stride=s), None),
            "dezero": (dezero_cases, DC.pooling, dict(kernel_size=k, stride=s), None),
        }, args.repeats))
        print(f"{name:<34} f+b minicnn {rows[-1]['minicnn_fast_fwd_bwd_ms']:7.1f} ms  torch {rows[-1]['torch_fwd_bwd_ms']:7.1f}")
    for name, shape in NORMS[:1] if args.quick else NORMS:
        C = shape[1]
        arrays = [rng.standard_normal(shape).astype(np.float32), np.ones(C, np.float32), np.zeros(C, np.float32)]
        stats = lambda: (np.zeros(C, np.float32), np.ones(C, np.float32))    # noqa: E731

        def ours(x, g, b):
            mean, var = stats()
            return ops.batch_norm(x, mc.Tensor(mean), mc.Tensor(var), g, b, training=True)

        def dezero_bn(x, g, b):
            mean, var = stats()
            return DF.batch_nrom(x, g, b, mean, var)          # (sic: DeZero's spelling)
        rows.append(run_all(name, arrays, {
            "minicnn_numpy": (minicnn_cases, ours, {}, False),
            "minicnn_fast": (minicnn_cases, ours, {}, True),
            "torch": (torch_cases, lambda x, g, b: F.batch_norm(x, *map(torch.tensor, stats()), g, b, training=True), {},
                      None),
            "dezero": (dezero_cases, dezero_bn, {}, None),
        }, args.repeats))
        print(f"{name:<34} f+b minicnn {rows[-1]['minicnn_fast_fwd_bwd_ms']:7.1f} ms  torch {rows[-1]['torch_fwd_bwd_ms']:7.1f}")
    if args.quick:
        return
    payload = {"benchmark": "ops on CPU, float32, ms, median of repeats", "repeats": args.repeats,
               "machine": machine_info(args.threads), "sgemm_peak_gflops": peak, "results": rows}
    write_json(os.path.join(RESULTS, "ops_cpu.json"), payload)
    columns = [("op", "op", "{}"), ("minicnn_numpy_fwd_bwd_ms", "NumPy path", "{:.1f}"),
               ("minicnn_fast_fwd_bwd_ms", "fast path", "{:.1f}"), ("torch_fwd_bwd_ms", "PyTorch", "{:.1f}"),
               ("dezero_fwd_bwd_ms", "DeZero", "{:.1f}"), ("minicnn_fast_vs_torch", "fast / torch", "{:.2f}x"),
               ("vs_dezero", "DeZero / fast", "{:.1f}x"), ("minicnn_fwd_bwd_gflops", "GFLOP/s", "{:.0f}"),
               ("gemm_share", "GEMM share", "{:.0%}"), ("im2col_floor_ms", "im2col floor", "{:.1f}"),
               ("floor_vs_torch", "floor / torch", "{:.2f}x")]
    markdown_table(os.path.join(RESULTS, "ops_cpu.md"),
                   f"Forward+backward, ms (median of {args.repeats}), {args.threads} threads; "
                   f"SGEMM peak {peak:.0f} GFLOP/s", columns, rows)
    bar_chart(os.path.join(RESULTS, "ops_cpu.png"), "forward+backward time / PyTorch's (lower is faster)",
              [r["op"] for r in rows], {label: [r[f"{key}_vs_torch"] for r in rows] for label, key in
                                        [("minicnn NumPy", "minicnn_numpy"), ("minicnn fast", "minicnn_fast"),
                                         ("DeZero", "dezero")]})
    print(f"wrote {RESULTS}/ops_cpu.json, .md and .png")


if __name__ == "__main__":
    main()
