"""minicnn.data.fetch against a loopback HTTP server started here: no test reaches past 127.0.0.1.

The server serves small generated IDX and CIFAR-binary files (and Debian's real Fashion-MNIST files
when the package is installed), answers Range requests, and plays the faults each test asks for: a
connection cut short, a flipped byte, 404, 500, a stall past the client's timeout. For HTTPS_PROXY it
speaks HTTPS with a throwaway certificate, behind a CONNECT proxy that is on loopback too.
"""
import dataclasses
import gzip
import hashlib
import http.server
import io
import os
import re
import select
import shutil
import socket
import ssl
import subprocess
import tarfile
import threading
import time
import urllib.parse

import numpy as np
import pytest

from minicnn import train
from minicnn.data import datasets, load_dataset
from minicnn.data import fetch as fetch_module
from minicnn.data.fetch import CHUNK, SOURCES, SUMS, FetchError, Remote, fetch, fetch_if_missing, main

from tests.data.test_datasets import write_idx

IDX_NAMES = [remote.name for remote in SOURCES["mnist"].files]
DEBIAN = datasets.DEBIAN_FASHION           # before the fixture below hides it
STALL_SECONDS = 1.5        # how long a stalling server waits; every client timeout below is shorter


class Server:
    """Files by path at ``url``; ``faults[name]`` lists what the next requests for that file get
    (``"cut"``, ``"flip"``, ``"stall"``, ``"no-range"`` or an HTTP status), one per request.
    With ``tls`` = (certificate, key) files it speaks HTTPS."""

    def __init__(self, files, tls=None):
        self.files, self.faults, self.log = dict(files), {}, []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.answer(self)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_port}/"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def answer(self, handler):
        name = urllib.parse.urlsplit(handler.path).path[1:]      # a proxy is sent the whole URL
        sent_range = handler.headers.get("Range")
        self.log.append((name, sent_range))
        faults = self.faults.get(name, [])
        fault = faults.pop(0) if faults else None
        if name not in self.files or isinstance(fault, int):
            handler.send_error(fault if isinstance(fault, int) else 404)
            return
        data = self.files[name]
        if fault == "flip":
            data = data[:len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1:]
        start = int(sent_range[len("bytes="):-1]) if sent_range and fault != "no-range" else 0
        if start >= len(data) > 0:
            handler.send_error(416)
            return
        handler.send_response(206 if start else 200)
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.send_header("Content-Length", str(len(data) - start))
        handler.end_headers()
        body = data[start:]
        if fault == "cut":
            handler.wfile.write(body[:len(body) // 2])
            handler.close_connection = True
        elif fault == "stall":
            handler.wfile.write(body[:len(body) // 3])
            handler.wfile.flush()
            time.sleep(STALL_SECONDS)
            handler.close_connection = True
        else:
            handler.wfile.write(body)

    def requests(self, name):
        return [r for n, r in self.log if n == name]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def no_proxy_and_no_home_data(monkeypatch, tmp_path):
    """A proxy set on the machine must not carry the loopback requests away; data goes to tmp_path."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "data"))
    monkeypatch.setattr(datasets, "DEBIAN_FASHION", str(tmp_path / "no-debian-package"))


def gz_idx(array):
    buffer = io.BytesIO()
    write_idx(buffer, array)
    return buffer.getvalue()


def mnist_files(n=50):
    rng = np.random.default_rng(0)
    files = {}
    for prefix in ("train", "t10k"):
        files[f"{prefix}-images-idx3-ubyte.gz"] = gz_idx(rng.integers(0, 256, (n, 28, 28)))
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gz_idx(np.arange(n) % 10)
    return files


def table(files):
    """Remotes with the served files' checksums: the test's stand-in for the table in fetch.py."""
    return tuple(Remote(name, hashlib.md5(data).hexdigest(), hashlib.sha256(gzip.decompress(data)).hexdigest())
                 for name, data in files.items())


@pytest.fixture
def mnist_server():
    server = Server(mnist_files())
    yield server, dataclasses.replace(SOURCES["mnist"], mirrors=(server.url,), files=table(server.files))
    server.close()


def quiet(**options):
    return {"progress": False, "say": lambda *a: None, "backoff": 0.01, **options}


def test_a_complete_fetch_lands_where_the_loader_looks(mnist_server, tmp_path):
    server, source = mnist_server
    folder = fetch("mnist", source=source, **quiet())
    assert folder == tmp_path / "data" / "mnist"
    assert sorted(os.listdir(folder)) == sorted(IDX_NAMES)              # no .part left behind
    for name, data in server.files.items():
        assert (folder / name).read_bytes() == data
    assert len(load_dataset("mnist", "train")) == 50 and len(load_dataset("mnist", "test")) == 50
    assert [n for n, _ in server.log] == IDX_NAMES                     # one request each


def test_an_existing_verified_copy_is_left_alone(mnist_server):
    server, source = mnist_server
    folder = fetch("mnist", source=source, **quiet())
    stamps = {name: (folder / name).stat().st_mtime_ns for name in IDX_NAMES}
    server.log.clear()
    said = []
    fetch("mnist", source=source, **quiet(say=said.append))
    assert server.log == [] and said == [f"mnist: 0 file(s) downloaded, 4 already there; checksums match; in {folder}"]
    assert {name: (folder / name).stat().st_mtime_ns for name in IDX_NAMES} == stamps


def test_a_copy_in_place_that_differs_is_refused_not_overwritten(mnist_server, tmp_path):
    server, source = mnist_server
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / IDX_NAMES[0]).write_bytes(b"made by hand")
    with pytest.raises(FetchError, match=rf"{IDX_NAMES[0]} is there but is not the official file: its MD5 is "
                                         rf"{hashlib.md5(b'made by hand').hexdigest()}, "
                                         rf"the published MD5 is {source.files[0].md5}\. It was left as it is"):
        fetch("mnist", source=source, **quiet())
    assert (folder / IDX_NAMES[0]).read_bytes() == b"made by hand" and server.log == []


def test_a_connection_cut_short_is_resumed_with_a_range_request(mnist_server, tmp_path):
    server, source = mnist_server
    name = "train-images-idx3-ubyte.gz"
    size = len(server.files[name])
    server.faults[name] = ["cut"]
    fetch("mnist", source=source, **quiet())
    assert server.requests(name) == [None, f"bytes={size // 2}-"]     # the second asks only for the rest
    assert (tmp_path / "data" / "mnist" / name).read_bytes() == server.files[name]


@pytest.mark.parametrize("server_ignores_range", [False, True])
def test_a_partial_file_from_an_interrupted_run_is_resumed(mnist_server, tmp_path, server_ignores_range):
    server, source = mnist_server
    name = "train-images-idx3-ubyte.gz"
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / (name + ".part")).write_bytes(server.files[name][:1000])
    if server_ignores_range:
        server.faults[name] = ["no-range"]           # it answers 200 with the whole file: start again
    fetch("mnist", source=source, **quiet())
    assert server.requests(name) == ["bytes=1000-"]
    assert (folder / name).read_bytes() == server.files[name] and not (folder / (name + ".part")).exists()


def test_a_complete_part_file_is_checked_not_downloaded_again(mnist_server, tmp_path):
    server, source = mnist_server
    name = "t10k-labels-idx1-ubyte.gz"
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    (folder / (name + ".part")).write_bytes(server.files[name])
    fetch("mnist", source=source, **quiet())                        # the server answers 416 to bytes=<size>-
    assert (folder / name).read_bytes() == server.files[name]


def test_a_flipped_byte_is_refused_and_nothing_is_kept(mnist_server, tmp_path):
    server, source = mnist_server
    name = "train-labels-idx1-ubyte.gz"
    server.faults[name] = ["flip"]
    data = bytearray(server.files[name])
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(FetchError) as error:
        fetch("mnist", source=source, **quiet())
    message = str(error.value)
    assert message.startswith(f"{name} from {server.url}{name} is refused: its MD5 is "
                              f"{hashlib.md5(bytes(data)).hexdigest()}, the published MD5 is {source.files[1].md5}.")
    assert "Run the fetch again" in message
    folder = tmp_path / "data" / "mnist"
    assert not (folder / name).exists() and not (folder / (name + ".part")).exists()
    fetch("mnist", source=source, **quiet())                         # the next run starts clean and succeeds
    assert (folder / name).read_bytes() == server.files[name]


def test_decompressed_content_is_checked_against_its_sha256(mnist_server):
    server, source = mnist_server
    wrong = dataclasses.replace(source.files[0], sha256="0" * 64)
    with pytest.raises(FetchError, match=rf"train-images-idx3-ubyte.gz from .* is refused: the SHA-256 of its "
                                         rf"decompressed content is {source.files[0].sha256}, expected 0{{64}}"):
        fetch("mnist", source=dataclasses.replace(source, files=(wrong,) + source.files[1:]), **quiet())


def test_404_moves_to_the_next_mirror_without_retrying(mnist_server):
    server, source = mnist_server
    fetch("mnist", source=dataclasses.replace(source, mirrors=(server.url + "gone/", server.url)), **quiet())
    assert [name for name, _ in server.log] == [path for name in IDX_NAMES for path in ("gone/" + name, name)]


def test_404_everywhere_is_an_error_listing_each_mirror(mnist_server):
    server, source = mnist_server
    server.faults[IDX_NAMES[0]] = [404, 404]
    with pytest.raises(FetchError, match=rf"(?s){IDX_NAMES[0]} could not be downloaded:\n  "
                                         rf"{server.url}{IDX_NAMES[0]}: HTTP 404 .*HTTPS_PROXY.*then run the fetch "
                                         rf"again. Or download"):              # nothing arrived: no .part to resume
        fetch("mnist", source=source, **quiet(retries=3))
    assert len(server.requests(IDX_NAMES[0])) == 1


def test_500_is_retried_with_backoff_then_given_up(mnist_server, monkeypatch):
    server, source = mnist_server
    sleeps = []
    monkeypatch.setattr(fetch_module.time, "sleep", sleeps.append)
    server.faults[IDX_NAMES[0]] = [500, 503]
    fetch("mnist", source=source, **quiet(retries=2))
    assert len(server.requests(IDX_NAMES[0])) == 3 and sleeps == [0.01, 0.02]
    server.faults[IDX_NAMES[0]] = [500] * 4
    sleeps.clear()
    with pytest.raises(FetchError, match=rf"{IDX_NAMES[0]} could not be downloaded:\n"
                                         r"  .*: HTTP 500 [^\n]* \(4 tries\)\nCheck the network"):
        fetch("mnist", fetch_module.data_root() / "second", source=source, progress=False, say=lambda *a: None,
              retries=3, backoff=1.0)
    assert len(server.requests(IDX_NAMES[0])) == 3 + 4 and sleeps == [1.0, 2.0, 4.0]


def test_a_stalled_server_times_out_then_the_retry_resumes(mnist_server, tmp_path):
    server, source = mnist_server
    name = "train-images-idx3-ubyte.gz"
    server.faults[name] = ["stall"]
    start = time.perf_counter()
    with pytest.raises(FetchError, match=rf"{name}: timed out"):
        fetch("mnist", source=source, **quiet(timeout=0.3, retries=0))
    assert time.perf_counter() - start < STALL_SECONDS                    # it gave up, it did not wait
    size = len(server.files[name])
    assert (tmp_path / "data" / "mnist" / (name + ".part")).stat().st_size == size // 3
    fetch("mnist", source=source, **quiet(timeout=0.3))
    assert server.requests(name)[-1] == f"bytes={size // 3}-"


def test_http_proxy_from_the_environment_is_used(mnist_server, monkeypatch):
    server, source = mnist_server
    monkeypatch.setenv("http_proxy", server.url)         # the test server stands in for the proxy
    # 127.0.0.2:9 has no server: without the proxy every request would be refused.
    fetch("mnist", source=dataclasses.replace(source, mirrors=("http://127.0.0.2:9/",)), **quiet(retries=0))
    assert [n for n, _ in server.log] == IDX_NAMES


class TunnelProxy:
    """An HTTPS proxy on loopback: answers CONNECT to 127.0.0.1 only, logs it, and relays the bytes."""

    def __init__(self):
        self.log = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_CONNECT(self):
                host, port = self.path.rsplit(":", 1)
                proxy.log.append(self.path)
                if host != "127.0.0.1":
                    self.send_error(403)
                    return
                with socket.create_connection((host, int(port)), timeout=5) as upstream:
                    self.send_response(200, "Connection established")
                    self.end_headers()
                    ends = {self.connection: upstream, upstream: self.connection}
                    while True:
                        readable, _, _ = select.select(list(ends), [], [], 5)
                        chunks = [(end, end.recv(CHUNK)) for end in readable]
                        if not readable or not all(data for _, data in chunks):
                            break
                        for end, data in chunks:
                            ends[end].sendall(data)
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed (it makes the test certificate)")
def test_https_through_the_proxy_in_https_proxy(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    server, proxy = Server(mnist_files(), tls=(cert, key)), TunnelProxy()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))        # trust the test certificate, and only it
        monkeypatch.setenv("https_proxy", proxy.url)
        source = dataclasses.replace(SOURCES["mnist"], mirrors=(server.url,), files=table(server.files))
        fetch("mnist", source=source, **quiet(retries=0))
    finally:
        server.close()
        proxy.close()
    assert proxy.log == [f"127.0.0.1:{server.httpd.server_port}"] * 4 and [n for n, _ in server.log] == IDX_NAMES


def test_a_path_that_cannot_be_created_is_a_clear_error(mnist_server, tmp_path):
    server, source = mnist_server
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(FetchError, match=rf"cannot write to {blocker}/mnist: Not a directory\. Choose a folder you "
                                         r"can write to: --root DIR"):
        fetch("mnist", blocker / "mnist", source=source, **quiet())
    assert server.log == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders; the folder under a file above stands in for it")
def test_a_read_only_root_is_a_clear_error(mnist_server, tmp_path):
    server, source = mnist_server
    root = tmp_path / "read-only"
    root.mkdir()
    root.chmod(0o555)
    try:
        with pytest.raises(FetchError, match=rf"cannot write to {root}/mnist: Permission denied"):
            fetch("mnist", root / "mnist", source=source, **quiet())
    finally:
        root.chmod(0o755)


# ---- CIFAR: one archive, unpacked --------------------------------------------------------------
def cifar10_archive(n=20, extra=()):
    rng = np.random.default_rng(1)
    members = {f"data_batch_{i}.bin": rng.integers(0, 256, (n, 3073), dtype=np.uint8) for i in range(1, 6)}
    members["test_batch.bin"] = rng.integers(0, 256, (n, 3073), dtype=np.uint8)
    for array in members.values():
        array[:, 0] %= 10
    contents = {name: array.tobytes() for name, array in members.items()}
    contents["batches.meta.txt"] = "\n".join(f"class{i}" for i in range(10)).encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in list(contents.items()) + list(extra):
            info = tarfile.TarInfo(name if name.startswith("..") else f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue(), contents


@pytest.fixture
def cifar_server():
    archive, contents = cifar10_archive(extra=[("../escaped.bin", b"x")])
    server = Server({"cifar-10-binary.tar.gz": archive})
    source = dataclasses.replace(SOURCES["cifar10"], mirrors=(server.url,),
                                 files=(Remote("cifar-10-binary.tar.gz", hashlib.md5(archive).hexdigest()),))
    yield server, source, contents
    server.close()


def test_cifar_archive_is_unpacked_flat_with_its_sums_and_the_loader_reads_it(cifar_server, tmp_path):
    server, source, contents = cifar_server
    folder = fetch("cifar10", source=source, **quiet())
    assert folder == tmp_path / "data" / "cifar-10"
    assert sorted(os.listdir(folder)) == sorted(list(contents) + [SUMS])   # archive deleted, nothing else out
    assert not (tmp_path / "data" / "escaped.bin").exists()
    for name, data in contents.items():
        assert (folder / name).read_bytes() == data
    assert (folder / SUMS).read_text().splitlines() == [f"{hashlib.sha256(contents[name]).hexdigest()}  {name}"
                                                        for name in contents]
    train_set, test_set = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    assert len(train_set) == 100 and len(test_set) == 20 and train_set.classes[3] == "class3"


def test_cifar_copy_is_left_alone_then_refetched_when_a_member_changed(cifar_server, tmp_path):
    server, source, contents = cifar_server
    folder = fetch("cifar10", source=source, **quiet())
    server.log.clear()
    fetch("cifar10", source=source, **quiet())
    assert server.log == []
    (folder / "test_batch.bin").write_bytes(b"damaged")
    said = []
    fetch("cifar10", source=source, **quiet(say=said.append))
    assert len(server.log) == 1 and (folder / "test_batch.bin").read_bytes() == contents["test_batch.bin"]
    assert said[0] == f"{folder / 'test_batch.bin'} is missing or differs from {SUMS}: fetching the archive again"


def test_cifar_archive_without_a_member_is_refused(cifar_server):
    server, source, contents = cifar_server
    archive, _ = cifar10_archive()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar, tarfile.open(fileobj=buffer, mode="w:gz") as out:
        for info in tar:
            if not info.name.endswith("test_batch.bin"):
                out.addfile(info, tar.extractfile(info))
    server.files["cifar-10-binary.tar.gz"] = buffer.getvalue()
    source = dataclasses.replace(source, files=(Remote("cifar-10-binary.tar.gz",
                                                       hashlib.md5(buffer.getvalue()).hexdigest()),))
    with pytest.raises(FetchError, match="cifar-10-binary.tar.gz lacks test_batch.bin: not the archive"):
        fetch("cifar10", source=source, **quiet())


# ---- the real table and the real files ---------------------------------------------------------
def test_the_real_table_names_official_sources_and_the_files_the_loaders_read():
    assert set(SOURCES) == set(datasets.DATASETS)
    for name, source in SOURCES.items():
        assert source.mirrors[0].startswith("https://") and all(m.endswith("/") for m in source.mirrors)
        assert all(re.fullmatch("[0-9a-f]{32}", r.md5) for r in source.files)
    assert SOURCES["cifar10"].mirrors == SOURCES["cifar100"].mirrors == ("https://www.cs.toronto.edu/~kriz/",)
    assert [r.name for r in SOURCES["fashion-mnist"].files] == IDX_NAMES
    assert all(len(r.sha256) == 64 for r in SOURCES["fashion-mnist"].files)


@pytest.mark.skipif(not os.path.isdir(DEBIAN),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_debian_fashion_mnist_served_and_checked_against_the_real_sha256s(tmp_path):
    files = {name: open(os.path.join(DEBIAN, name), "rb").read() for name in IDX_NAMES}
    server = Server(files)
    try:
        # Debian's .gz bytes are not Zalando's (their MD5s differ): the MD5s here are the served files',
        # the SHA-256s of the content are the real table's.
        remotes = tuple(dataclasses.replace(remote, md5=hashlib.md5(files[remote.name]).hexdigest())
                        for remote in SOURCES["fashion-mnist"].files)
        source = dataclasses.replace(SOURCES["fashion-mnist"], mirrors=(server.url,), files=remotes)
        fetch("fashion-mnist", source=source, **quiet())
    finally:
        server.close()
    train_set = load_dataset("fashion-mnist", "train")
    assert train_set.images.shape == (60000, 1, 28, 28) and train_set.classes[9] == "Ankle boot"


# ---- the command line and train --download -----------------------------------------------------
def test_command_line(mnist_server, tmp_path, monkeypatch, capsys):
    server, source = mnist_server
    monkeypatch.setitem(SOURCES, "mnist", source)
    assert main(["mnist", "--root", str(tmp_path / "elsewhere"), "--no-progress"]) == 0
    assert sorted(os.listdir(tmp_path / "elsewhere" / "mnist")) == sorted(IDX_NAMES)
    assert "mnist: 4 file(s) downloaded, 0 already there" in capsys.readouterr().out
    assert main(["mnist", "--root", str(tmp_path / "second")]) == 0
    bar = capsys.readouterr().err                                      # tqdm's, in bytes
    assert all(name in bar for name in IDX_NAMES) and "B/s" in bar
    server.faults[IDX_NAMES[0]] = [404]
    assert main(["mnist", "--root", str(tmp_path / "third"), "--no-progress"]) == 1
    assert capsys.readouterr().err.startswith(f"minicnn fetch: {IDX_NAMES[0]} could not be downloaded:")
    for bad in (["imagenet"], ["mnist", "--timeout", "0"]):
        with pytest.raises(SystemExit) as exit_:
            main(bad)
        assert exit_.value.code == 2


def test_offline_each_url_fails_once_in_the_message_and_no_part_file_is_promised(mnist_server, tmp_path,
                                                                                  monkeypatch, capsys):
    server, source = mnist_server
    offline = ("http://127.0.0.2:9/a/", "http://127.0.0.2:9/b/")          # nothing listens there: refused
    monkeypatch.setitem(SOURCES, "mnist", dataclasses.replace(source, mirrors=offline))
    monkeypatch.setattr(fetch_module.time, "sleep", lambda seconds: None)
    assert main(["mnist", "--root", str(tmp_path / "data"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert [line.split(": ")[0] for line in err.splitlines()[1:3]] == [f"  {url}{IDX_NAMES[0]}" for url in offline]
    assert all(line.endswith("Connection refused (4 tries)") for line in err.splitlines()[1:3]), err
    assert ".part" not in err and "run the fetch again. Or download" in err


@pytest.mark.skipif(not os.path.isdir(DEBIAN),
                    reason="Debian's dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)")
def test_fetch_of_a_dataset_debian_installed_says_so_and_downloads_nothing(monkeypatch, capsys):
    monkeypatch.setattr(datasets, "DEBIAN_FASHION", DEBIAN)
    monkeypatch.setitem(SOURCES, "fashion-mnist", dataclasses.replace(SOURCES["fashion-mnist"],
                                                                       mirrors=("http://127.0.0.2:9/",)))
    assert main(["fashion-mnist", "--no-progress"]) == 0
    assert capsys.readouterr().out == (f"fashion-mnist: already installed in {DEBIAN}, where "
                                       "training finds it; nothing to download (--root DIR downloads a copy anyway)\n")


def test_train_downloads_only_when_asked(mnist_server, tmp_path, monkeypatch, capsys):
    server, source = mnist_server
    monkeypatch.setitem(SOURCES, "mnist", source)
    quick = ["--arch", "lenet5_28", "--dataset", "mnist", "--epochs", "1", "--batch-size", "25", "--no-progress",
             "--out", str(tmp_path / "runs")]
    with pytest.raises(SystemExit, match=r"mnist: data files not found.*Nothing is downloaded unless asked: "
                                         r"`python -m minicnn.data.fetch mnist` downloads them \(or train with "
                                         r"--download\)"):
        train.main(quick)
    assert server.log == []
    assert train.main(quick + ["--download"]) == 0
    assert len(server.log) == 4 and "mnist: 4 file(s) downloaded" in capsys.readouterr().out
    assert fetch_if_missing("mnist") is None and len(server.log) == 4     # found now: nothing fetched again


def test_download_goes_into_the_data_dir_given(mnist_server, tmp_path, monkeypatch):
    server, source = mnist_server
    monkeypatch.setitem(SOURCES, "mnist", source)
    given = tmp_path / "given"
    assert fetch_if_missing("mnist", given, progress=False, say=lambda *a: None) == given
    assert sorted(os.listdir(given)) == sorted(IDX_NAMES) and not (tmp_path / "data").exists()
    assert fetch_if_missing("image-folder-name") is None and len(server.log) == 4      # not a fetchable dataset
