"""Write the README's speed tables from benchmarks/results/*.json, so that its figures are always
the committed results (tests/test_docs.py fails when they differ).

    python benchmarks/readme_tables.py          # rewrite the tables between their markers in README.md

Each table sits between ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``.
"""
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "benchmarks", "results")
MODELS = {"lenet5_28": "LeNet-5, 28x28", "resnet20": "ResNet-20, 32x32", "vgg16": "VGG-16, 32x32",
          "googlenet": "GoogLeNet, 224x224", "resnet50": "ResNet-50, 224x224", "densenet121": "DenseNet-121, 224x224",
          "inception_v3": "Inception v3, 299x299", "vgg16_bn": "VGG-16-BN, 224x224"}


def _load(name):
    with open(os.path.join(RESULTS, f"{name}.json")) as f:
        return json.load(f)


def _caption(data):
    m = data["machine"]
    return (f"{m['cpu']} ({m['isa']}, {m['cores']} cores), {m['blas']} ({m['blas_kernel']}), "
            f"{m['threads']} threads; {data['method']}")


def train_step(name="train_step_cpu", batch="batch 64"):
    data = _load(name)
    lines = [f"Training step, float32, {batch} (`benchmarks/results/{name}.md`). {_caption(data)}:", "",
             "| training step | minicnn | PyTorch 2.13 | ratio | peak RSS minicnn / PyTorch |",
             "|---|---:|---:|---:|---:|"]
    for r in data["results"]:
        lines.append(f"| {MODELS[r['model']]} | {r['minicnn_fast_step_ms']:.0f} ms [{r['minicnn_fast_range']}] | "
                     f"{r['torch_step_ms']:.0f} ms [{r['torch_range']}] | {r['minicnn_fast_vs_torch']:.2f}x | "
                     f"{r['minicnn_fast_peak_rss_mib']:.0f} / {r['torch_peak_rss_mib']:.0f} MiB |")
    return "\n".join(lines)


def train_step_large():
    return train_step("train_step_cpu_large", "batch 8 (Inception v3 and VGG-16-BN: 4)")


def thread_scaling():
    data = _load("thread_scaling")
    t0, t1 = data["threads"][0], data["threads"][-1]
    lines = [f"Speed-up from {t0} to {t1} threads (`benchmarks/results/thread_scaling.md`). {_caption(data)}:", "",
             f"| case | minicnn {t0} / {t1} threads | speed-up | PyTorch {t0} / {t1} threads | speed-up |",
             "|---|---:|---:|---:|---:|"]
    for r in data["results"]:
        if not r["case"].startswith("training step"):
            continue
        lines.append(f"| {MODELS[r['case'].split()[-1]]} | {r[f'minicnn_fast_{t0}t']:.0f} / {r[f'minicnn_fast_{t1}t']:.0f} ms | "
                     f"{r['minicnn_fast_speedup']:.2f}x | {r[f'torch_{t0}t']:.0f} / {r[f'torch_{t1}t']:.0f} ms | "
                     f"{r['torch_speedup']:.2f}x |")
    return "\n".join(lines)


TABLES = {"train_step": train_step, "train_step_large": train_step_large, "thread_scaling": thread_scaling}


def render(readme):
    """The README text with every marked table rewritten from the results."""
    for name, make in TABLES.items():
        pattern = re.compile(rf"(<!-- results:{name} -->\n).*?(<!-- /results:{name} -->)", re.S)
        if not pattern.search(readme):
            raise SystemExit(f"README.md has no <!-- results:{name} --> ... <!-- /results:{name} --> markers")
        readme = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), readme)
    return readme


def main():
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    with open(path, "w") as f:
        f.write(render(text))
    print(f"rewrote {', '.join(TABLES)} in README.md")


if __name__ == "__main__":
    main()
