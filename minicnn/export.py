"""Export a trained model to ONNX and check the file:
``python -m minicnn.export --checkpoint runs/<arch>-<time>/best.safetensors --out model.onnx``.

The model is rebuilt from the checkpoint as ``python -m minicnn.evaluate`` rebuilds it
(``minicnn.trained.load_trained``), exported by ``minicnn.onnx.export`` with a dynamic batch axis,
checked with ``onnx.checker``, and run by onnxruntime on one batch of random inputs (standard
normal, the scale of normalised images). Printed: the largest difference between onnxruntime's
output and minicnn's own on that batch, absolute and relative to minicnn's largest output.
Needs ``pip install 'minicnn[onnx]'`` (onnx and onnxruntime).
"""
import os
import sys

import numpy as np

import minicnn as mc
from minicnn.cli import Parser
from minicnn.trained import load_trained
from minicnn.serialization import CheckpointError

__all__ = ["main", "build_parser"]


def build_parser():
    p = Parser(prog="python -m minicnn.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", required=True, help="a last.safetensors or best.safetensors from minicnn.train")
    p.add_argument("--out", default=None, help="the .onnx file to write (default: next to the checkpoint, "
                                               "with the extension .onnx)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset version (default: minicnn.onnx.DEFAULT_OPSET)")
    p.add_argument("--batch-size", type=int, default=8, help="size of the batch onnxruntime checks (default: 8)")
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, got {args.batch_size}")
    try:
        import onnx
        import onnxruntime

        from minicnn import onnx as minicnn_onnx
    except ImportError as e:
        parser.exit(2, f"minicnn export: {e}; install both with pip install 'minicnn[onnx]'\n")
    try:
        model, config = load_trained(args.checkpoint)
    except CheckpointError as e:
        parser.exit(2, f"minicnn export: {e}\n")
    out = args.out or os.path.splitext(args.checkpoint)[0] + ".onnx"
    opset = minicnn_onnx.DEFAULT_OPSET if args.opset is None else args.opset
    x = np.random.default_rng(0).standard_normal((args.batch_size, *config["input_size"])).astype(np.float32)

    print(f"minicnn export: {config['arch']} from {args.checkpoint}, input {tuple(config['input_size'])}, "
          f"opset {opset}", flush=True)
    try:
        proto = minicnn_onnx.export(model, x[:1], out, opset=opset)
    except minicnn_onnx.ExportError as e:
        parser.exit(2, f"minicnn {e}\n")            # "minicnn export: cannot write ..."
    onnx.checker.check_model(out, full_check=True)
    print(f"wrote {out}: {len(proto.graph.node)} nodes, {model.num_parameters():,} parameters; onnx.checker: ok")

    session = onnxruntime.InferenceSession(out, providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    with mc.no_grad():
        expected = model(mc.Tensor(x)).numpy()
    largest = float(np.abs(got - expected).max())
    scale = float(np.abs(expected).max())
    print(f"onnxruntime {onnxruntime.__version__} on a batch of {args.batch_size} random inputs: largest difference "
          f"from minicnn {largest:.3g} ({largest / max(scale, 1e-12):.3g} of the largest output, {scale:.3g}); "
          f"same top class for {int((got.argmax(1) == expected.argmax(1)).sum())}/{args.batch_size}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
