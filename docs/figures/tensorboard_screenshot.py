"""Make docs/figures/tensorboard.png: a LeNet-5 run logged with --tensorboard, as TensorBoard shows it.

    pip install -e ".[tensorboard]" && apt-get install chromium
    PYTHONPATH=. python docs/figures/tensorboard_screenshot.py

Trains lenet5_28 for 8 epochs on 2,000 Fashion-MNIST images with --tensorboard (about a minute on
two cores), serves the run with `tensorboard --logdir` on 127.0.0.1 only, and has headless Chromium
take three pictures: the curves and learning rate (Scalars), the first convolution's weight and
gradient histograms (Histograms) and its filters (Images). They are cut to their charts and set
together in one picture. The server is stopped whatever happens.

The classic dashboards draw with SVG, which headless Chromium renders completely within its
virtual time budget; the Time Series page draws with WebGL and came out with empty charts.
"""
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 6006
WINDOW = (1400, 1100)
# dashboard (with its settings) -> the part of its picture to keep: (left, top, right, bottom)
PAGES = {"scalars&_smoothingWeight=0&tagFilter=loss%7Ctop1%7Clr": (0, 0, 1070, 1050),
         "histograms&tagFilter=features.0": (0, 0, 1070, 690),
         "images": (360, 170, 1070, 570)}
TRAIN = ["--arch", "lenet5_28", "--subset", "2000", "--epochs", "8", "--batch-size", "32", "--no-progress",
         "--tensorboard"]


def wait_for(url, seconds=60):
    """Until ``url`` answers; TensorBoard takes a few seconds to load the plugins and the event files."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


def screenshot(url, path, profile):
    # virtual time: Chromium runs the page until it has drawn its charts, then takes the picture
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--user-data-dir={profile}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    "--virtual-time-budget=60000", f"--screenshot={path}", url],
                   check=True, timeout=180, stderr=subprocess.DEVNULL)
    return Image.open(path)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "minicnn.train", *TRAIN, "--out", tmp], check=True)
        (run,) = os.listdir(tmp)
        server = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", os.path.join(tmp, run),
                                   "--host", "127.0.0.1", "--port", str(PORT)], stderr=subprocess.DEVNULL)
        try:
            wait_for(f"http://127.0.0.1:{PORT}/data/runs")
            scalars, histograms, images = (
                screenshot(f"http://127.0.0.1:{PORT}/#{page}", os.path.join(tmp, f"{i}.png"),
                           os.path.join(tmp, f"profile{i}")).crop(box)
                for i, (page, box) in enumerate(PAGES.items()))
        finally:
            server.terminate()
            server.wait(timeout=30)
    # the curves on the left; the histograms and, under them, the filters on the right
    picture = Image.new("RGB", (scalars.width + histograms.width, scalars.height), "white")
    picture.paste(scalars, (0, 0))
    picture.paste(histograms, (scalars.width, 0))
    picture.paste(images, (scalars.width, histograms.height))
    picture.save(os.path.join(HERE, "tensorboard.png"), optimize=True)


if __name__ == "__main__":
    main()
