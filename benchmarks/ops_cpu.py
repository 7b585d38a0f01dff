"""Ops on CPU: minicnn (NumPy reference path and numba fast path), PyTorch 2.13 CPU and DeZero
0.0.13 (the closest NumPy peer); float32, forward and forward+backward.

    python benchmarks/ops_cpu.py [--repeats 7] [--rounds 3] [--threads 2] [--quick]

The method of benchmarks/common.py: each implementation runs every op in a process of its own,
the implementations alternate over --rounds rounds on a machine checked to be quiet, and each
figure is the median over the rounds (each round's figure a median of --repeats after two
warm-ups), with the min-max range for minicnn's fast path and PyTorch. For conv2d the table also
gives the GFLOP/s reached, the machine's SGEMM GFLOP/s (a 2048^3 NumPy matmul, the ceiling for
im2col), the share of the conv's time spent in its GEMMs (the same matrix products timed alone),
and the im2col floor: those GEMMs plus one memory copy of each column array the conv builds (the
forward's, the weight gradient's and gcol), the least any im2col + GEMM design can take here;
these come from a NumPy-only child ("gemm") in the same rotation.
Writes benchmarks/results/ops_cpu.{json,md,png}.
"""
import argparse
import json
import os
import sys

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from common import (RESULTS, alternate, bar_chart, machine_info, machine_line, markdown_table, median_ms,  # noqa: E402
                    method_note, sgemm_gflops, spread, write_json)

IMPLS = ("minicnn_fast", "minicnn_numpy", "torch", "dezero")

# name, (N, C, H, W), out channels, kernel, stride, padding
CONVS = [
    ("lenet5 conv2 5x5", (64, 6, 14, 14), 16, 5, 1, 0),
    ("resnet20 3x3 16ch 32x32", (64, 16, 32, 32), 16, 3, 1, 1),
    ("resnet20 3x3 64ch 8x8", (64, 64, 8, 8), 64, 3, 1, 1),
    ("3x3 64ch 16x16 batch 32", (32, 64, 16, 16), 64, 3, 1, 1),
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
    import numpy as np
    if not hasattr(np, "int"):
        np.int = int
    import dezero
    import dezero.functions as DF
    import dezero.functions_conv as DC
    return dezero, DF, DC


def timed_pair(forward, backward_of, repeats):
    """(forward ms, forward+backward ms) for one implementation: backward_of(output) runs backward."""
    return median_ms(forward, repeats), median_ms(lambda: backward_of(forward()), repeats)


def selected(quick):
    """The conv, pooling and norm cases to run: the first of each with --quick."""
    return (CONVS[:1], POOLS[:1], NORMS[:1]) if quick else (CONVS, POOLS, NORMS)


def case_names(quick):
    """The cases' names, in the order the children report them, without making their arrays."""
    return [case[0] for group in selected(quick) for case in group]


def inputs(quick):
    """Every case as (name, kind, arrays, arguments), drawn from one seed: the same in every child."""
    import numpy as np
    rng = np.random.default_rng(0)
    convs, pools, norms = selected(quick)
    cases = []
    for name, shape, OC, k, s, p in convs:
        x = rng.standard_normal(shape).astype(np.float32)
        w = (rng.standard_normal((OC, shape[1], k, k)) * 0.1).astype(np.float32)
        cases.append((name, "conv", [x, w], dict(stride=s, padding=p)))
    for name, shape, k, s in pools:
        cases.append((name, "maxpool", [rng.standard_normal(shape).astype(np.float32)], dict(kernel_size=k, stride=s)))
    for name, shape in norms:
        C = shape[1]
        cases.append((name, "batchnorm", [rng.standard_normal(shape).astype(np.float32), np.ones(C, np.float32),
                                          np.zeros(C, np.float32)], {}))
    return cases


def minicnn_ops(path):
    import minicnn as mc               # before NumPy, as the minicnn commands do
    import numpy as np
    from minicnn import fast, ops
    fast.set_enabled(path == "minicnn_fast")

    def batch_norm(x, g, b):
        C = x.shape[1]
        return ops.batch_norm(x, mc.Tensor(np.zeros(C, np.float32)), mc.Tensor(np.ones(C, np.float32)), g, b,
                              training=True)

    def cases(op, arrays, kwargs):
        tensors = [mc.Tensor(a, requires_grad=True) for a in arrays]

        def backward(y):
            y.backward(np.ones(y.shape, y.dtype))
            for t in tensors:
                t.grad = None
        return (lambda: op(*tensors, **kwargs)), backward
    return {"conv": ops.conv2d, "maxpool": ops.max_pool2d, "batchnorm": batch_norm}, cases


def torch_ops():
    import torch
    import torch.nn.functional as F

    def batch_norm(x, g, b):
        C = x.shape[1]
        return F.batch_norm(x, torch.zeros(C), torch.ones(C), g, b, training=True)

    def cases(op, arrays, kwargs):
        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]

        def backward(y):
            y.backward(torch.ones_like(y))
            for t in tensors:
                t.grad = None
        return (lambda: op(*tensors, **kwargs)), backward
    return {"conv": F.conv2d, "maxpool": F.max_pool2d, "batchnorm": batch_norm}, cases


def dezero_ops():
    import numpy as np
    dezero, DF, DC = dezero_module()

    def conv(x, w, stride, padding):
        return DC.conv2d(x, w, stride=stride, pad=padding)

    def batch_norm(x, g, b):
        C = x.shape[1]
        return DF.batch_nrom(x, g, b, np.zeros(C, np.float32), np.ones(C, np.float32))   # (sic: DeZero's spelling)

    def cases(op, arrays, kwargs):
        variables = [dezero.Variable(a) for a in arrays]

        def backward(y):
            y.grad = None
            y.backward()                      # DeZero seeds the output gradient with ones
            for v in variables:
                v.cleargrad()
        return (lambda: op(*variables, **kwargs)), backward
    return {"conv": conv, "maxpool": DC.pooling, "batchnorm": batch_norm}, cases


def conv_gemm_ms(x, w, stride, pad, repeats):
    """The three GEMMs of minicnn's conv2d (forward, weight grad, input grad), timed alone."""
    import numpy as np

    from minicnn.im2col import conv_outsize
    N, C, H, W = x.shape
    OC, _, K, _ = w.shape
    OH, OW = conv_outsize(H, K, stride, pad, pad), conv_outsize(W, K, stride, pad, pad)
    col = np.ones((C * K * K, N * OH * OW), x.dtype)
    gy = np.ones((OC, N * OH * OW), x.dtype)
    W2 = w.reshape(OC, -1)
    return median_ms(lambda: W2 @ col, repeats), median_ms(lambda: (gy @ col.T, W2.T @ gy), repeats)


def column_copy_ms(x, w, stride, pad, repeats):
    """One plain copy of each column array conv2d's forward+backward builds (the forward's, the
    weight gradient's, gcol): im2col is a gather that can go no faster than a copy of its output,
    and a copy is bound by memory bandwidth."""
    import numpy as np

    from minicnn.im2col import conv_outsize
    N, C, H, W = x.shape
    OC, _, K, _ = w.shape
    OH, OW = conv_outsize(H, K, stride, pad, pad), conv_outsize(W, K, stride, pad, pad)
    src, dst = np.ones(C * K * K * N * OH * OW, x.dtype), np.empty(C * K * K * N * OH * OW, x.dtype)
    return 3 * median_ms(lambda: np.copyto(dst, src), repeats)


def child(impl, threads, repeats, quick):
    """Runs in its own process: every case for one implementation; prints one JSON line."""
    if impl.startswith("minicnn"):
        table, cases = minicnn_ops(impl)
        from threadpoolctl import threadpool_limits
        import minicnn as mc
        threadpool_limits(threads)
        mc.fast.set_threads(threads)
    elif impl == "torch":
        import torch
        torch.set_num_threads(threads)
        table, cases = torch_ops()
    elif impl == "dezero":
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
        table, cases = dezero_ops()
    out = {}
    if impl == "gemm":
        from threadpoolctl import threadpool_limits
        threadpool_limits(threads)
        out["sgemm_peak_gflops"] = sgemm_gflops()
        for name, kind, (x, w), kw in (c for c in inputs(quick) if c[1] == "conv"):
            fwd, bwd = conv_gemm_ms(x, w, kw["stride"], kw["padding"], repeats)
            out[name] = [fwd + bwd, fwd + bwd + column_copy_ms(x, w, kw["stride"], kw["padding"], repeats)]
    else:
        for name, kind, arrays, kw in inputs(quick):
            out[name] = timed_pair(*cases(table[kind], arrays, kw), repeats)
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="the first shape of each op only (a smoke run)")
    parser.add_argument("--allow-noisy", action="store_true", help="measure even when other processes are busy")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.threads, args.repeats, args.quick)
    results, worst = alternate(children(IMPLS + ("gemm",), args.threads, args.repeats, args.quick),
                               args.rounds, args.allow_noisy)
    rows = summarize(results, args.threads, args.quick)
    peak = spread([r["sgemm_peak_gflops"] for r in results[("gemm", args.threads)]])["median"]
    for row in rows:
        print(f"{row['op']:<34} f+b minicnn {row['minicnn_fast_fwd_bwd_ms']:7.1f} ms  torch "
              f"{row['torch_fwd_bwd_ms']:7.1f}  ({row['minicnn_fast_vs_torch']:.2f}x)")
    if args.quick:
        return
    machine = machine_info(args.threads)
    note = method_note(args.rounds, worst)
    write_json(os.path.join(RESULTS, "ops_cpu.json"),
               {"benchmark": "ops on CPU, float32, ms", "method": note, "repeats": args.repeats, "rounds": args.rounds,
                "other_processes_busy_max": worst, "machine": machine, "sgemm_peak_gflops": peak, "results": rows})
    columns = [("op", "op", "{}"), ("minicnn_numpy_fwd_bwd_ms", "NumPy path", "{:.1f}"),
               ("minicnn_fast_fwd_bwd_ms", "fast path", "{:.1f}"), ("torch_fwd_bwd_ms", "PyTorch", "{:.1f}"),
               ("range", "range fast / torch", "{}"),
               ("dezero_fwd_bwd_ms", "DeZero", "{:.1f}"), ("minicnn_fast_vs_torch", "fast / torch", "{:.2f}x"),
               ("vs_dezero", "DeZero / fast", "{:.1f}x"), ("minicnn_fwd_bwd_gflops", "GFLOP/s", "{:.0f}"),
               ("gemm_share", "GEMM share", "{:.0%}"), ("im2col_floor_ms", "im2col floor", "{:.1f}"),
               ("floor_vs_torch", "floor / torch", "{:.2f}x")]
    markdown_table(os.path.join(RESULTS, "ops_cpu.md"),
                   f"Forward+backward, ms, on {machine_line(machine)}; SGEMM peak {peak:.0f} GFLOP/s; {note}",
                   columns, rows)
    bar_chart(os.path.join(RESULTS, "ops_cpu.png"), "forward+backward time / PyTorch's (lower is faster)",
              [r["op"] for r in rows], {label: [r[f"{key}_vs_torch"] for r in rows] for label, key in
                                        [("minicnn NumPy", "minicnn_numpy"), ("minicnn fast", "minicnn_fast"),
                                         ("DeZero", "dezero")]})
    print(f"wrote {RESULTS}/ops_cpu.json, .md and .png")


def children(impls, threads, repeats, quick):
    """(impl, threads) -> the child's command line, for common.alternate."""
    extra = ["--quick"] if quick else []
    return {(impl, threads): ([__file__, "--child", impl, "--threads", str(threads), "--repeats", str(repeats)] + extra,
                              {}) for impl in impls}


def summarize(results, threads, quick, impls=IMPLS):
    """One row per op: each implementation's median over the rounds, the ranges and the ratios."""
    from minicnn.im2col import conv_outsize
    rows = []
    names = case_names(quick)
    for name in names:
        row = {"op": name}
        for impl in impls:
            runs = results[(impl, threads)]
            row[f"{impl}_fwd_ms"] = spread([r[name][0] for r in runs])["median"]
            fb = spread([r[name][1] for r in runs])
            row[f"{impl}_fwd_bwd_ms"], row[f"{impl}_fwd_bwd_min"], row[f"{impl}_fwd_bwd_max"] = fb["median"], fb["min"], fb["max"]
        for impl in impls:
            if impl != "torch":
                row[f"{impl}_vs_torch"] = row[f"{impl}_fwd_bwd_ms"] / row["torch_fwd_bwd_ms"]
        if "minicnn_fast" in impls:
            row["range"] = (f"{row['minicnn_fast_fwd_bwd_min']:.1f}-{row['minicnn_fast_fwd_bwd_max']:.1f} / "
                            f"{row['torch_fwd_bwd_min']:.1f}-{row['torch_fwd_bwd_max']:.1f}")
        if "dezero" in impls:
            row["vs_dezero"] = row["dezero_fwd_bwd_ms"] / row["minicnn_fast_fwd_bwd_ms"]
        gemm = results.get(("gemm", threads))
        if gemm and name in gemm[0]:
            conv = next(c for c in CONVS if c[0] == name)
            _, shape, OC, k, s, p = conv
            OH = conv_outsize(shape[2], k, s, p, p)
            flops = 2 * shape[0] * OC * OH * OH * shape[1] * k * k
            gemms, floor = (spread([r[name][i] for r in gemm])["median"] for i in (0, 1))
            row.update(minicnn_fwd_bwd_gflops=3 * flops / row["minicnn_fast_fwd_bwd_ms"] / 1e6,
                       gemm_share=gemms / row["minicnn_fast_fwd_bwd_ms"], im2col_floor_ms=floor,
                       floor_vs_torch=floor / row["torch_fwd_bwd_ms"])
        rows.append(row)
    return rows


if __name__ == "__main__":
    main()
