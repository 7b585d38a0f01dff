"""Download a lecture dataset from its official source: ``python -m minicnn.data.fetch NAME [--root DIR]``.

NAME is fashion-mnist, mnist, cifar10 or cifar100 (CIFAR's *binary* version: nothing is unpickled).
The files go to ``ROOT/<folder>``, ROOT being ``--root``, else ``$MINICNN_DATA``, else
``~/.minicnn/data``: where the loaders in datasets.py look.

Every file is checked against the checksums in ``SOURCES`` before it takes its final name:
  - the MD5 of the file as served, as the datasets' authors publish it (Fashion-MNIST's README, the
    CIFAR page); for MNIST, whose page lists none, the MD5s torchvision checks on the same mirrors;
  - for Fashion-MNIST also the SHA-256 of each *decompressed* IDX file, computed from Debian's
    dataset-fashion-mnist. Debian recompressed the files without gzip's file-name field (each of its
    .gz is 23-24 bytes, that field's length, shorter than Zalando's), so the compressed bytes differ
    and only the decompressed ones can be compared.
A download goes to ``<file>.part``: when the connection breaks, the next try (or the next run) asks
only for the rest (HTTP Range). A verified CIFAR archive is unpacked member by member, then deleted;
the members' SHA-256s go to ``SHA256SUMS`` (``sha256sum -c SHA256SUMS`` checks them), written last,
which is how a later run knows the copy is whole. A file already in place is checked and left alone.

urllib reads HTTPS_PROXY, HTTP_PROXY and NO_PROXY. A connection or a read that waits ``timeout``
seconds fails; a failed transfer or a 5xx answer is tried again ``retries`` times, after 1, 2, 4 ... s,
then the next mirror is tried.
"""
import argparse
import gzip
import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from minicnn.data import datasets
from minicnn.data.datasets import DataError, DataMissing, candidate_folders, data_root, load_dataset
from minicnn.progress import progress_bar
from minicnn.atomic import atomic_write
from minicnn.cli import Parser

__all__ = ["Remote", "Source", "SOURCES", "FetchError", "fetch", "fetch_if_missing", "main"]

CHUNK = 1 << 16
SUMS = "SHA256SUMS"


class FetchError(DataError):
    """A download failed, or a file's checksum differs; the message names the file and what to do."""


@dataclass(frozen=True)
class Remote:
    """One file on the server."""
    name: str
    md5: str                   # of the file as served
    sha256: str = ""           # of its decompressed content (a .gz), where a copy was at hand to compute it


@dataclass(frozen=True)
class Source:
    """A dataset: the folder the loaders look in, its mirrors (base URLs, tried in order), its files,
    and for an archive the members kept (``archive_folder/name``, unpacked as ``name``)."""
    folder: str
    mirrors: tuple
    files: tuple
    members: tuple = ()


def _idx_files(md5s, sha256s=("",) * 4):
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz")
    return tuple(Remote(*checksums) for checksums in zip(names, md5s, sha256s))


SOURCES = {
    "fashion-mnist": Source(
        "fashion-mnist",
        ("https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        _idx_files(("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "25c81989df183df01b3e8a0aad5dffbe",
                    "bef4ecab320f06d8554ea6380940ec79", "bb300cfdad3c16e7a12a480ee83cd310"),
                   ("c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"))),
    "mnist": Source(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",        # PyTorch's mirror
         "https://storage.googleapis.com/cvdf-datasets/mnist/",   # TensorFlow's
         "http://yann.lecun.com/exdb/mnist/"),                    # the original, often unreachable now
        _idx_files(("f68b3c2dcbeaaa9fbdd348bbdeb94873", "d53e105ee54ea40749a09fcbcd1e9432",
                    "9fb629c4189551a2d022fa330f9573f3", "ec29112dd5afa0611ce80d1b7f02629c"))),
    "cifar10": Source(
        "cifar-10", ("https://www.cs.toronto.edu/~kriz/",),
        (Remote("cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530"),),
        tuple(f"cifar-10-batches-bin/{name}" for name in
              [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin", "batches.meta.txt"])),
    "cifar100": Source(
        "cifar-100", ("https://www.cs.toronto.edu/~kriz/",),
        (Remote("cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8"),),
        tuple(f"cifar-100-binary/{name}" for name in
              ("train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"))),
}


def fetch(name, folder=None, *, source=None, timeout=30.0, retries=3, backoff=1.0, progress=True, say=print):
    """Download dataset ``name`` into ``folder`` (default: ``data_root()/<its folder>``) unless a verified
    copy is there; returns the folder. ``source`` replaces ``SOURCES[name]`` (tests serve their own files)."""
    if source is None:
        if name not in SOURCES:
            raise ValueError(f"fetch: unknown dataset {name!r}; choose one of {', '.join(SOURCES)}")
        source = SOURCES[name]
    folder = Path(folder) if folder else data_root() / source.folder
    _check_writable(folder)
    get = dict(mirrors=source.mirrors, timeout=timeout, retries=retries, backoff=backoff, progress=progress,
               say=say)
    if not source.members:
        fetched = [_get(remote, folder, **get) for remote in source.files]
        say(f"{name}: {sum(fetched)} file(s) downloaded, {len(fetched) - sum(fetched)} already there; "
            f"checksums match; in {folder}")
        return folder
    if _unpacked_copy_intact(folder, source.members, say):
        say(f"{name}: already in {folder} ({SUMS} matches); nothing downloaded")
        return folder
    archive = folder / source.files[0].name
    _get(source.files[0], folder, **get)
    say(f"{name}: unpacking {archive.name}")
    _unpack(archive, source.members, folder)
    archive.unlink()
    say(f"{name}: ready in {folder}")
    return folder


def fetch_if_missing(name, data_dir=None, **options):
    """``train --download``: fetch ``name`` (into ``data_dir`` when given) only if no folder the loaders
    search holds it. A folder of images, or a copy that is there but damaged, is not fetched."""
    if name not in SOURCES:
        return None
    try:
        for split in ("train", "test"):
            load_dataset(name, split, data_dir)
        return None
    except DataMissing:
        return fetch(name, data_dir, **options)


# ---- one file ------------------------------------------------------------------------------------
def _get(remote, folder, mirrors, timeout, retries, backoff, progress, say):
    """Put a verified ``remote`` in ``folder``; True when it was downloaded, False when it was there."""
    path = folder / remote.name
    if path.is_file():
        wrong = _mismatch(remote, path)
        if wrong:
            raise FetchError(f"{path} is there but is not the official file: {wrong}. It was left as it is: "
                             "move or delete it, then run the fetch again.")
        return False
    part = path.with_name(path.name + ".part")
    errors = []
    for base in mirrors:
        url = base + remote.name
        if _download(url, part, timeout, retries, backoff, progress, errors):
            break
    else:
        kept = (f": what has arrived is kept in {part.name} and resumed" if part.is_file() and part.stat().st_size
                else "")
        raise FetchError(f"{remote.name} could not be downloaded:\n  " + "\n  ".join(errors) +
                         "\nCheck the network (behind a proxy, set HTTPS_PROXY and HTTP_PROXY), then run the fetch "
                         f"again{kept}. Or download {remote.name} by hand from {mirrors[0]} and put it in {folder}.")
    wrong = _mismatch(remote, part)
    if wrong:
        part.unlink()
        raise FetchError(f"{remote.name} from {url} is refused: {wrong}. The download was damaged or the server "
                         f"sent another file; it was deleted and nothing in {folder} changed. Run the fetch again; "
                         "if it fails the same way, the file on the server is not the one minicnn knows: "
                         "please report it.")
    _fsync(part)
    part.replace(path)                 # in place only now, verified: a path that exists is a whole file
    say(f"{remote.name}: downloaded, checksums match")
    return True


def _download(url, part, timeout, retries, backoff, progress, errors):
    """Bring ``part`` to the whole of ``url`` (resuming); False, with the reasons in ``errors`` (one line
    per URL: each reason once, with how many tries met it), on failure."""
    reasons = {}
    try:
        for attempt in range(retries + 1):
            if attempt:
                time.sleep(backoff * 2 ** (attempt - 1))
            try:
                _transfer(url, part, timeout, progress)
                return True
            except urllib.error.HTTPError as e:
                reasons[f"HTTP {e.code} {e.reason}"] = reasons.get(f"HTTP {e.code} {e.reason}", 0) + 1
                if e.code < 500 and e.code != 429:     # not there (404, 403 ...): asking again will not help
                    return False
            except (OSError, http.client.HTTPException) as e:       # refused, reset, timed out, cut short
                reason = getattr(e, "reason", None) or e
                reason = str(reason) or type(reason).__name__
                reasons[reason] = reasons.get(reason, 0) + 1
        return False
    finally:
        if reasons:
            errors.append(f"{url}: " + "; ".join(reason + (f" ({n} tries)" if n > 1 else "")
                                                 for reason, n in reasons.items()))


def _transfer(url, part, timeout, progress):
    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "minicnn-fetch", **({"Range": f"bytes={offset}-"} if offset else {})}
    try:
        # A new opener each time: it reads the proxy variables now (urlopen keeps the first ones it saw).
        response = urllib.request.build_opener().open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:        # nothing after offset: the part is whole (its checksum will tell)
            return
        raise
    with response:
        if offset and response.status != 206:
            offset = 0                                  # the server ignored Range and sends it all
        elif offset and not response.headers.get("Content-Range", "").startswith(f"bytes {offset}-"):
            raise ConnectionError(f"asked for bytes {offset}- and got {response.headers.get('Content-Range')}")
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length else None
        bar = progress_bar(total, part.name[:-len(".part")], progress, unit="B")
        bar.update(offset)
        try:
            with _open_for_writing(part, "ab" if offset else "wb") as f:
                while chunk := response.read1(CHUNK):      # what has arrived: a stall loses nothing
                    try:
                        f.write(chunk)
                    except OSError as e:            # a full disk is no network error: no retry
                        raise FetchError(f"cannot write {part}: {e.strerror or e}") from e
                    bar.update(len(chunk))
                size = f.tell()
        finally:
            bar.close()
    if total is not None and size < total:
        raise ConnectionError(f"the connection closed after {size} of {total} bytes")


def _open_for_writing(path, mode):
    try:
        return open(path, mode)
    except OSError as e:
        raise FetchError(f"cannot write {path}: {e.strerror or e}") from e


def _mismatch(remote, path):
    """How ``path`` differs from ``remote``'s checksums ("" when it does not)."""
    md5 = _digest(path, hashlib.md5(usedforsecurity=False))
    if md5 != remote.md5:
        return f"its MD5 is {md5}, the published MD5 is {remote.md5}"
    if remote.sha256:
        try:
            sha256 = _digest(path, hashlib.sha256(), opener=gzip.open)
        except (OSError, EOFError, zlib.error) as e:
            return f"it does not decompress ({e})"
        if sha256 != remote.sha256:
            return f"the SHA-256 of its decompressed content is {sha256}, expected {remote.sha256}"
    return ""


def _digest(path, digest, opener=open):
    with opener(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync(path):
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _check_writable(folder):
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as e:
        raise FetchError(f"cannot write to {folder}: {e.strerror or e}. Choose a folder you can write to: "
                         "--root DIR, and MINICNN_DATA=DIR for training to find the data there.") from e


# ---- an archive (CIFAR) --------------------------------------------------------------------------
def _unpack(archive, members, folder):
    """Copy ``members`` (and nothing else: no paths from the archive are trusted) out of the verified
    ``archive`` into ``folder``, each atomically, then write their SHA-256s to SHA256SUMS."""
    wanted = {member: member.rsplit("/", 1)[-1] for member in members}
    sums = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if info.name not in wanted or not info.isfile():
                    continue
                digest, source = hashlib.sha256(), tar.extractfile(info)
                with atomic_write(folder / wanted[info.name]) as tmp, open(tmp, "wb") as out:
                    while chunk := source.read(1 << 20):
                        digest.update(chunk)
                        out.write(chunk)
                sums[wanted[info.name]] = digest.hexdigest()
    except (tarfile.TarError, EOFError, zlib.error) as e:
        raise FetchError(f"{archive} matches its MD5 but cannot be unpacked ({e}); delete it and fetch again") from e
    missing = [name for name in wanted.values() if name not in sums]
    if missing:
        raise FetchError(f"{archive} lacks {', '.join(missing)}: not the archive this dataset needs")
    with atomic_write(folder / SUMS) as tmp, open(tmp, "w") as f:
        f.writelines(f"{sums[name]}  {name}\n" for name in wanted.values())


def _unpacked_copy_intact(folder, members, say):
    """True when SHA256SUMS lists every member and each file matches it."""
    sums_file = folder / SUMS
    if not sums_file.is_file():
        return False
    lines = [line.split(None, 1) for line in sums_file.read_text().splitlines()]
    sums = {fields[1]: fields[0] for fields in lines if len(fields) == 2}
    for name in (member.rsplit("/", 1)[-1] for member in members):
        path = folder / name
        if name not in sums or not path.is_file() or _digest(path, hashlib.sha256()) != sums[name]:
            say(f"{path} is missing or differs from {SUMS}: fetching the archive again")
            return False
    return True


# ---- command line --------------------------------------------------------------------------------
def _installed_elsewhere(source):
    """A folder other than the fetch's own where the loaders find every file of ``source`` (Debian's
    package for Fashion-MNIST, $MINICNN_DATA), or None."""
    names = [member.rsplit("/", 1)[-1] for member in source.members] or [remote.name for remote in source.files]
    extra = [datasets.DEBIAN_FASHION] if source.folder == "fashion-mnist" else []
    for folder in candidate_folders(source.folder, extra=extra):
        if folder != data_root() / source.folder and all(
                (folder / name).is_file() or (folder / name.removesuffix(".gz")).is_file() for name in names):
            return folder
    return None


def _positive(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def main(argv=None):
    p = Parser(prog="python -m minicnn.data.fetch", description=__doc__.split("\n\n")[0])
    p.add_argument("name", choices=list(SOURCES), help="the dataset")
    p.add_argument("--root", default=None,
                   help="folder for the datasets; the files go to ROOT/<dataset> (default: $MINICNN_DATA, "
                        "else ~/.minicnn/data, where training finds them without --data-dir)")
    p.add_argument("--timeout", type=_positive, default=30.0, help="seconds a connection or a read may wait")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (logs, CI)")
    args = p.parse_args(argv)
    folder = Path(args.root) / SOURCES[args.name].folder if args.root else None
    installed = None if args.root else _installed_elsewhere(SOURCES[args.name])
    if installed:
        print(f"{args.name}: already installed in {installed}, where training finds it; nothing to download "
              "(--root DIR downloads a copy anyway)")
        return 0
    try:
        fetch(args.name, folder, timeout=args.timeout, progress=not args.no_progress)
    except DataError as e:
        print(f"minicnn fetch: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; run the same command again to resume the download", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
