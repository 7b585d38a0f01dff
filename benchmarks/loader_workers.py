"""DataLoader worker threads: batches per second with num_workers 0, 1, 2, 4 ... on the CPU.

    python benchmarks/loader_workers.py [--rounds 3] [--workers 0 1 2 4] [--sizes 32 224] [--images 10000]

Each child iterates the DataLoader (batch 128) over random uint8 images, one epoch to warm up and
three timed, and prints the median epoch's images per second. At size 32 the images have CIFAR's
shape (3x32x32) with the CIFAR training augmentation (pad-4 random crop, flip, ToFloat, Normalize);
at a larger size they have Fashion-MNIST's (1x28x28) with the training transform the recipes give
the 224-pixel models (minicnn.recipes.make_transform: resize, normalise, shifts, flip). Nothing consumes the
batches: this is the loader's own throughput, the most that worker threads can add; in training,
the model's step competes with them for the cores. Method of benchmarks/common.py: each
num_workers in its own process, alternated over --rounds rounds on a machine checked to be quiet.
Writes benchmarks/results/loader_workers.{json,md}.
"""
import argparse
import json
import os
import sys
import time

sys.path[:0] = [os.path.dirname(os.path.abspath(__file__)), os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]

from common import RESULTS, alternate, machine_info, machine_line, markdown_table, method_note, spread, write_json  # noqa: E402,I001

BATCH = 128


def child(workers, images, size):
    import numpy as np

    from minicnn.data import ArrayDataset, DataLoader
    from minicnn.data import transforms as T
    from minicnn.recipes import make_transform
    rng = np.random.default_rng(0)
    shape = (3, 32, 32) if size == 32 else (1, 28, 28)
    data = ArrayDataset(rng.integers(0, 256, (images,) + shape, dtype=np.uint8), rng.integers(0, 10, images),
                        list(range(10)), "random")
    if size == 32:
        tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), T.ToFloat(),
                        T.Normalize((0.49, 0.48, 0.45), (0.25, 0.24, 0.26))])
    else:
        tf = make_transform("fashion-mnist", 1, size, 28, train=True)
    loader = DataLoader(data, BATCH, shuffle=True, transform=tf, num_workers=workers)
    seconds = []
    for epoch in range(4):
        start = time.perf_counter()
        for _ in loader:
            pass
        seconds.append(time.perf_counter() - start)
    print(json.dumps({"images_per_s": images / sorted(seconds[1:])[1]}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 224], help="image sizes (see above)")
    parser.add_argument("--size", type=int, default=32, help=argparse.SUPPRESS)
    parser.add_argument("--allow-noisy", action="store_true", help="measure even when other processes are busy")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        return child(args.child, args.images, args.size)
    children = {(size, w): ([__file__, "--child", str(w), "--images", str(args.images), "--size", str(size)], {})
                for size in args.sizes for w in args.workers}
    results, worst = alternate(children, args.rounds, args.allow_noisy)
    rows = []
    for size, w in children:
        s = spread([r["images_per_s"] for r in results[size, w]])
        rows.append({"size": size, "num_workers": w, "images_per_s": s["median"], "min": s["min"], "max": s["max"]})
    machine, note = machine_info(os.cpu_count()), method_note(args.rounds, worst)
    write_json(os.path.join(RESULTS, "loader_workers.json"),
               {"benchmark": f"DataLoader images/s, training augmentation, batch {BATCH}, no consumer", "method": note,
                "rounds": args.rounds, "other_processes_busy_max": worst, "machine": machine, "results": rows})
    markdown_table(os.path.join(RESULTS, "loader_workers.md"),
                   f"DataLoader throughput (images/s) on {machine_line(machine)}; {note}",
                   [("size", "image size", "{}"), ("num_workers", "num_workers", "{}"),
                    ("images_per_s", "images/s", "{:.0f}"),
                    ("min", "min", "{:.0f}"), ("max", "max", "{:.0f}")], rows)


if __name__ == "__main__":
    main()
