"""Make docs/figures/netron_resnet20.png: ResNet-20 exported by minicnn.onnx, as Netron draws it.

    pip install netron && apt-get install chromium fonts-wqy-microhei   # the font has Netron's 〈 〉
    PYTHONPATH=. python docs/figures/netron_resnet20.py

Netron serves the file; headless Chromium, driven over its DevTools pipe (no extra packages),
opens it twice: with Netron's default view (op types on nodes, shapes on edges) and with
"Show Names" (Ctrl+U: node and value names). Both are cut around block layer2.0, where option
A's shortcut is a Slice and a Pad, and set side by side. The weights play no part in the picture.
"""
import base64
import io
import json
import os
import subprocess
import tempfile
import time

import netron
import numpy as np
from PIL import Image

import minicnn
import minicnn.onnx

HERE = os.path.dirname(os.path.abspath(__file__))
PORT = 8081
WIDTH, HEIGHT = 1100, 9000          # tall enough for the whole graph at Netron's 100% zoom
# Where the first block with a Slice (layer2.0) is: the Slice's x and the y of the Add below it.
FIND_BLOCK = """(() => {
    const title = (end) => [...document.querySelectorAll('text')].filter((t) => t.textContent.endsWith(end))
        .map((t) => t.getBoundingClientRect());
    const slice = title('Slice')[0];
    const add = title('Add').filter((r) => r.y > slice.y).sort((a, b) => a.y - b.y)[0];
    return [slice.x + slice.width / 2, add.y];
})()"""


class Chromium:
    """Headless Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies out),
    messages as JSON ended by a NUL byte."""

    def __init__(self, profile):
        to_child, self.to_chrome = os.pipe()
        self.from_chrome, from_child = os.pipe()

        def wire():
            os.dup2(to_child, 3)
            os.dup2(from_child, 4)
        self.process = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "about:blank"], pass_fds=(3, 4), preexec_fn=wire, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self.pending, self.count, self.session = b"", 0, None
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def send(self, method, **params):
        self.count += 1
        message = {"id": self.count, "method": method, "params": params}
        if self.session:
            message["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.pending:
                self.pending += os.read(self.from_chrome, 1 << 20)
            raw, self.pending = self.pending.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.count:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def screenshot(self, url, names, wait=30):
        """The page after ``wait`` seconds (Netron lays the graph out in the background), and
        where block layer2.0 is (FIND_BLOCK)."""
        options = json.dumps({"names": names})
        self.send("Network.enable")
        # Netron asks for cookie consent once, and reads its view options from localStorage.
        self.send("Network.setCookie", name="consent", value=str(int(time.time() * 1000)), url=url)
        self.send("Page.enable")
        script = self.send("Page.addScriptToEvaluateOnNewDocument",
                           source=f"localStorage.setItem('options', {json.dumps(options)})")
        self.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", url=url)
        time.sleep(wait)
        where = self.send("Runtime.evaluate", expression=FIND_BLOCK, returnByValue=True)["result"]["value"]
        png = base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"])
        self.send("Page.removeScriptToEvaluateOnNewDocument", identifier=script["identifier"])
        return png, where

    def close(self):
        self.session = None                    # Browser.close is a browser-wide command
        self.send("Browser.close")
        self.process.wait(timeout=30)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "resnet20.onnx")
        minicnn.onnx.export(minicnn.models.get("resnet20").eval(), np.zeros((1, 3, 32, 32), np.float32), path)
        netron.serve(path, None, ("localhost", PORT), browse=False)
        browser = Chromium(os.path.join(tmp, "profile"))
        try:
            halves = []
            for names in (False, True):
                png, (x, y) = browser.screenshot(f"http://localhost:{PORT}/", names)
                shot = Image.open(io.BytesIO(png))
                halves.append(shot.crop((int(x) - 160, int(y) - 620, int(x) + 440, int(y) + 110)))
        finally:
            browser.close()
            netron.stop(("localhost", PORT))
    picture = Image.new("RGB", (sum(h.width for h in halves), halves[0].height), "white")
    picture.paste(halves[0], (0, 0))
    picture.paste(halves[1], (halves[0].width, 0))
    picture.save(os.path.join(HERE, "netron_resnet20.png"), optimize=True)


if __name__ == "__main__":
    main()
