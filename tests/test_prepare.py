"""`prepare`: sources of every kind, hostile archives, splits, and the report."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import socket
import stat
import tarfile
import threading
import typing
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from kgan.data.dataset import PreparedDataset, make_splits
from kgan.data.download import download
from kgan.data.images import SkippedImage, decode_image
from kgan.data.prepare import prepare
from kgan.errors import KganError


def png(colour, size=(24, 24), mode="RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def make_folder(root: Path, count: int = 30) -> Path:
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"img{i:03d}.png").write_bytes(png((i * 8, 255 - i * 8, i)))
    return root


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file() and not path.is_symlink():
            digest.update(path.read_bytes())
        digest.update(str(path.lstat().st_mtime_ns).encode())
    return digest.hexdigest()


def test_folder_with_bad_files_is_reported_and_never_modified(tmp_path):
    source = make_folder(tmp_path / "src")
    (source / "empty.jpg").write_bytes(b"")
    (source / "notes.txt").write_text("not an image")
    whole = png((1, 2, 3), size=(64, 64))
    (source / "truncated.png").write_bytes(whole[: len(whole) // 2])
    (source / "gray.png").write_bytes(png(128, mode="L"))
    (source / "palette.png").write_bytes(png(3, mode="P"))
    (source / "wide.png").write_bytes(png((9, 9, 9), size=(40, 20)))
    os.symlink(source / "img000.png", source / "link.png")
    before = tree_digest(source)

    dataset, report = prepare(source, tmp_path / "out", size=16, seed=1)

    assert tree_digest(source) == before
    assert report.scanned == 37
    reasons = dict(report.skipped)
    assert reasons["empty.jpg"] == "empty file"
    assert reasons["notes.txt"] == "not an image"
    assert reasons["truncated.png"].startswith("truncated")
    assert reasons["link.png"] == "refused: symbolic link"
    assert report.used == 33 and dataset.images.shape == (33, 16, 16, 3)
    assert dataset.manifest["report"]["skipped"] == 4


def test_duplicates_never_cross_splits(tmp_path):
    source = make_folder(tmp_path / "src", count=40)
    for i in range(10):  # byte-identical copies of earlier files
        (source / f"copy{i}.png").write_bytes((source / f"img{i:03d}.png").read_bytes())
    dataset, report = prepare(source, tmp_path / "out", size=8, val=5, test=5)
    assert report.duplicates == 10 and report.used == 40
    hashes = dataset.manifest["sha256"]
    seen: dict[str, str] = {}
    for split in ("train", "val", "test"):
        for index in dataset.indices(split):
            assert seen.setdefault(hashes[index], split) == split
    assert sum(len(dataset.indices(s)) for s in ("train", "val", "test")) == 40


def test_split_is_seeded_disjoint_and_persisted(tmp_path):
    splits = make_splits(100, seed=5)
    assert splits == make_splits(100, seed=5) and splits != make_splits(100, seed=6)
    assert (len(splits["val"]), len(splits["test"]), len(splits["train"])) == (10, 10, 80)
    assert not set(splits["val"]) & set(splits["test"]) and not set(splits["train"]) & set(splits["val"])
    assert len(make_splits(71_314, seed=0)["val"]) == 2000  # the paper's protocol
    with pytest.raises(KganError, match="no training images"):
        make_splits(10, seed=0, val=5, test=5)
    dataset, _ = prepare(make_folder(tmp_path / "src"), tmp_path / "out", size=8, seed=2)
    again = PreparedDataset(tmp_path / "out")
    assert again.manifest["splits"] == dataset.manifest["splits"] and again.split_id == dataset.split_id


def test_zip_and_tar_sources_refuse_unsafe_members(tmp_path):
    good = png((10, 200, 30))
    zip_path = tmp_path / "faces.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        archive.writestr("faces/a.png", good)
        archive.writestr("faces/b.png", png((200, 10, 30)))
        archive.writestr("/etc/evil.png", good)
        archive.writestr("../escape.png", good)
        link = zipfile.ZipInfo("faces/link.png")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
    tar_path = tmp_path / "faces.tar.gz"
    with tarfile.open(tar_path, "w:gz") as archive:
        for name, data in [("ok/c.png", good), ("../../up.png", good), ("/abs.png", good)]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        symlink = tarfile.TarInfo("ok/sym.png")
        symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
        archive.addfile(symlink)
        hard = tarfile.TarInfo("ok/hard.png")
        hard.type, hard.linkname = tarfile.LNKTYPE, "ok/c.png"
        archive.addfile(hard)
    outside_before = sorted(p.name for p in tmp_path.iterdir())
    zip_bytes = zip_path.read_bytes()

    zipped, zip_report = prepare(zip_path, tmp_path / "zip-out", size=8, val=0, test=0)
    tarred, tar_report = prepare(tar_path, tmp_path / "tar-out", size=8, val=0, test=0)

    assert zip_path.read_bytes() == zip_bytes
    assert zip_report.used == 2 and tar_report.used == 1
    zip_reasons = dict(zip_report.skipped)
    assert "absolute" in zip_reasons["/etc/evil.png"] and ".." in zip_reasons["../escape.png"]
    assert "link" in zip_reasons["faces/link.png"]
    tar_reasons = dict(tar_report.skipped)
    assert ".." in tar_reasons["../../up.png"] and "absolute" in tar_reasons["/abs.png"]
    assert "link" in tar_reasons["ok/sym.png"] and "link" in tar_reasons["ok/hard.png"]
    # Nothing appeared beside the outputs, and the outputs hold only the dataset files.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*outside_before, "zip-out", "tar-out"])
    assert sorted(p.name for p in (tmp_path / "zip-out").iterdir()) == ["images.npy", "manifest.json"]
    assert zipped.images.shape[0] == 2 and tarred.images.shape[0] == 1


def test_no_usable_image_is_a_clear_error_and_leaves_nothing(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("x")
    (source / "b.jpg").write_bytes(b"")
    with pytest.raises(KganError, match="no usable image"):
        prepare(source, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["src"]


def test_output_rules(tmp_path):
    source = make_folder(tmp_path / "src", count=12)
    with pytest.raises(KganError, match="inside the source"):
        prepare(source, source / "prepared")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("user data")
    with pytest.raises(KganError, match="not empty"):
        prepare(source, tmp_path / "busy")
    assert (tmp_path / "busy" / "keep.txt").read_text() == "user data"
    prepare(source, tmp_path / "out", size=8)
    with pytest.raises(KganError, match="--overwrite"):
        prepare(source, tmp_path / "out", size=8)
    prepare(source, tmp_path / "out", size=8, overwrite=True)
    with pytest.raises(KganError, match="does not exist"):
        prepare(tmp_path / "missing", tmp_path / "out2")


def send_body(handler: http.server.BaseHTTPRequestHandler, body: bytes, cut: bool) -> None:
    """The body, or (`cut`) its first half and then a dropped connection."""
    handler.wfile.write(body[: len(body) // 2] if cut else body)
    if cut:
        handler.wfile.flush()
        handler.connection.shutdown(socket.SHUT_RDWR)


class _RangeHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files with Range support; the first full request is cut off halfway."""

    cut_once: typing.ClassVar[set] = set()

    def log_message(self, *args):
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        data = path.read_bytes()
        start = 0
        if "Range" in self.headers:
            start = int(self.headers["Range"].split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = start == 0 and self.path not in self.cut_once
        self.cut_once.add(self.path)
        send_body(self, body, cut)


@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a, **k: _RangeHandler(*a, directory=str(root), **k)  # noqa: E731
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_url_download_resumes_and_is_atomic(tmp_path, http_root):
    root, base = http_root
    payload = np.random.default_rng(0).bytes(300_000)
    (root / "blob.bin").write_bytes(payload)
    folder = tmp_path / "dl"
    with pytest.raises(KganError, match="run the same command again"):
        download(f"{base}/blob.bin", folder)
    assert not (folder / "blob.bin").exists()  # never a complete-looking partial file
    assert 0 < (folder / "blob.bin.part").stat().st_size < len(payload)
    seen = []
    path = download(f"{base}/blob.bin", folder, progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == payload and not (folder / "blob.bin.part").exists()
    assert seen[-1] == (len(payload), len(payload))


def test_prepare_from_url(tmp_path, http_root):
    root, base = http_root
    with zipfile.ZipFile(root / "set.zip", "w") as archive:
        for i in range(12):
            archive.writestr(f"f/{i}.png", png((i * 20, 0, 0)))
    _RangeHandler.cut_once.add("/set.zip")  # serve it whole
    dataset, report = prepare(f"{base}/set.zip", tmp_path / "out", size=8)
    assert report.used == 12 and dataset.manifest["source"].endswith("/set.zip")


def test_unreachable_url_is_one_clear_error(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(KganError, match="cannot download"):
        prepare(f"http://127.0.0.1:{port}/x.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_tar_read_in_stored_order_gives_the_folder_dataset(tmp_path):
    # Members stored in reverse name order: the dataset is the same as from the folder.
    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(3)
    for index in range(12):
        Image.fromarray(rng.integers(0, 255, (20, 20, 3), dtype=np.uint8)).save(folder / f"face-{index:02d}.png")
    tar_path = tmp_path / "faces.tar.gz"
    with tarfile.open(tar_path, "w:gz") as archive:
        for path in sorted(folder.iterdir(), reverse=True):
            archive.add(path, arcname=path.name)
    from_folder, _ = prepare(folder, tmp_path / "from-folder", size=16, val=2, test=2)
    from_tar, _ = prepare(tar_path, tmp_path / "from-tar", size=16, val=2, test=2)
    assert from_tar.manifest["names"] == from_folder.manifest["names"] == sorted(from_folder.manifest["names"])
    np.testing.assert_array_equal(np.asarray(from_tar.images), np.asarray(from_folder.images))
    assert from_tar.split_id == from_folder.split_id


def test_a_programming_error_in_fetch_is_not_called_a_failed_download(tmp_path, monkeypatch):
    import gdown

    from kgan.data.fetch import fetch

    def too_old(*args, **kwargs):  # what an old gdown says of an argument it does not know
        raise TypeError("download() got an unexpected keyword argument 'progress'")

    monkeypatch.setattr(gdown, "download", too_old)
    with pytest.raises(TypeError, match="progress"):
        fetch("anime-faces", tmp_path / "faces")
    assert not (tmp_path / "faces").exists()


class _ValidatingHandler(http.server.BaseHTTPRequestHandler):
    """One file, `/blob.bin`, whose content and ETag the test changes; `mode` picks how the
    server treats Range: "proper" (If-Range honoured), "ignores-range" (always 200 whole),
    "wrong-range" (206 from byte 0). Every first full answer is cut off halfway."""

    content: typing.ClassVar[dict] = {}

    def log_message(self, *args):
        pass

    def do_GET(self):
        data, etag, mode = self.content["data"], self.content["etag"], self.content["mode"]
        start = 0
        wanted = self.headers.get("Range")
        if wanted and mode != "ignores-range" and self.headers.get("If-Range") in (etag, None):
            start = 0 if mode == "wrong-range" else int(wanted.split("=")[1].split("-")[0])
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        send_body(self, body, self.content.pop("cut", False))


@pytest.fixture
def validating_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ValidatingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/blob.bin"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "mode, changed", [("proper", False), ("proper", True), ("ignores-range", False), ("wrong-range", False)]
)
def test_a_resumed_download_never_splices_two_files(tmp_path, validating_server, mode, changed):
    old, new = np.random.default_rng(1).bytes(200_000), np.random.default_rng(2).bytes(200_000)
    _ValidatingHandler.content.update(data=old, etag='"v1"', mode=mode, cut=True)
    with pytest.raises(KganError, match="run the same command again"):
        download(validating_server, tmp_path)
    assert 0 < (tmp_path / "blob.bin.part").stat().st_size < len(old)
    if changed:  # the file changed on the server between the two attempts
        _ValidatingHandler.content.update(data=new, etag='"v2"')
    path = download(validating_server, tmp_path)
    assert path.read_bytes() == (new if changed else old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin"]  # no part, no facts left


def test_resize_filter_and_padding_are_applied_and_recorded(tmp_path):
    from kgan.data.images import decode_image

    rng = np.random.default_rng(3)
    wide = Image.fromarray(rng.integers(0, 256, (40, 80, 3), dtype=np.uint8))  # 80 wide, 40 high
    source = tmp_path / "source"
    source.mkdir()
    wide.save(source / "wide.png")
    Image.fromarray(rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)).save(source / "square.png")
    data = (source / "wide.png").read_bytes()

    crop = wide.crop((20, 0, 60, 40))
    for name, resample in (("box", Image.Resampling.BOX), ("bilinear", Image.Resampling.BILINEAR)):
        expected = np.asarray(crop.resize((16, 16), resample))
        np.testing.assert_array_equal(decode_image(data, 16, resize_filter=name), expected)
    assert not np.array_equal(decode_image(data, 16, resize_filter="box"), decode_image(data, 16))

    padded = decode_image(data, 80, pad=True)  # letterboxed on white: nothing cut
    np.testing.assert_array_equal(padded[20:60], np.asarray(wide))
    assert (padded[:20] == 255).all() and (padded[60:] == 255).all()

    dataset, _ = prepare(source, tmp_path / "out", size=16, resize_filter="box", pad=True, val=0, test=0)
    assert dataset.manifest["resize_filter"] == "box" and dataset.manifest["pad"] is True
    default, _ = prepare(source, tmp_path / "default", size=16, val=0, test=0)
    assert default.manifest["resize_filter"] == "lanczos" and default.manifest["pad"] is False
    with pytest.raises(KganError, match="--resize-filter must be one of"):
        prepare(source, tmp_path / "bad", size=16, resize_filter="nearest")
    assert not (tmp_path / "bad").exists()


def test_decoding_processes_give_the_same_dataset_as_one_process(tmp_path):
    """Over three chunks of entries, bad files and duplicates included: worker processes
    decode in parallel, each image written straight into its row, and the result does
    not depend on how many; it is what decoding file by file gives."""
    rng = np.random.default_rng(5)
    source = tmp_path / "source"
    source.mkdir()
    for i in range(170):
        pixels = rng.integers(0, 256, (20 + i % 7, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(source / f"img{i:03d}.{'png' if i % 3 else 'jpg'}")
    (source / "img003b.png").write_bytes(b"\x89PNG truncated")  # a hole in chunk 1: later rows move down
    (source / "img100b.png").write_bytes((source / "img100.png").read_bytes())  # a duplicate, chunk 2
    (source / "img150b.png").write_bytes(b"not an image")  # chunk 3
    (source / "img160b.png").write_bytes(b"")
    before = tree_digest(source)
    one, one_report = prepare(source, tmp_path / "one", size=16, workers=1)
    two, two_report = prepare(source, tmp_path / "two", size=16, workers=2)
    assert tree_digest(source) == before
    np.testing.assert_array_equal(one.images, two.images)
    assert one.manifest == two.manifest
    assert one_report.to_dict() == two_report.to_dict()
    assert (one_report.scanned, one_report.used, one_report.duplicates) == (174, 170, 1)
    assert one_report.reason_counts() == {"not an image": 2, "empty file": 1}
    expected, seen = [], set()
    for path in sorted(source.iterdir()):
        try:
            image = decode_image(path.read_bytes(), 16)
        except SkippedImage:
            continue
        if image.tobytes() not in seen:
            seen.add(image.tobytes())
            expected.append(image)
    np.testing.assert_array_equal(two.images, np.stack(expected))
    assert (tmp_path / "two" / "images.npy").stat().st_size == two.images.offset + two.images.nbytes


def test_a_full_disk_while_decoding_processes_write_is_one_line_and_leaves_nothing(tmp_path):
    """The decoding processes write the images: their full disk (here a file-size limit,
    EFBIG) reaches the user as the same one line as the parent's would."""
    from helpers import assert_one_line_error, kgan

    source = tmp_path / "pngs"
    source.mkdir()
    for i in range(300):
        Image.new("RGB", (20, 20), (i % 256, i // 256, 7)).save(source / f"{i:03d}.png")
    before = tree_digest(source)
    # 768 bytes a row: the first chunk (decoded in the parent) fits, a worker's chunk crosses the limit.
    result = kgan("data", "prepare", str(source), "--out", "prep", "--size", "16", cwd=tmp_path, max_file_bytes=100_000)
    assert_one_line_error(result, "too large")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]
    assert tree_digest(source) == before


def test_prepare_works_from_a_script_without_a_main_guard_and_from_standard_input(tmp_path):
    """Worker processes must not import the caller's main module again (a `multiprocessing`
    pool does: from standard input that fails, and a script without a guard runs twice)."""
    import subprocess
    import sys

    from helpers import python_env

    source = make_folder(tmp_path / "source", count=150)
    script = (
        "from kgan.data.prepare import prepare\n"
        f"print(prepare({str(source)!r}, {str(tmp_path)!r} + '/' + NAME, workers=2)[1].used)\n"
    )
    as_file = tmp_path / "no_guard.py"
    as_file.write_text("NAME = 'from-file'\n" + script)
    for command, stdin in (
        ([sys.executable, str(as_file)], None),
        ([sys.executable, "-"], "NAME = 'from-stdin'\n" + script),
    ):
        done = subprocess.run(
            command, input=stdin, capture_output=True, text=True, env=python_env(), timeout=300, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert done.stdout.strip() == "150"  # printed once: the script ran once
    assert PreparedDataset(tmp_path / "from-file").split_id == PreparedDataset(tmp_path / "from-stdin").split_id


def test_special_and_unreadable_files_in_a_folder_are_refused_without_waiting(tmp_path):
    """A named pipe among the images must be reported, not opened: reading one waits for a
    writer forever (it did). A file the user may not read is reported too."""
    import subprocess
    import sys

    source = make_folder(tmp_path / "src", count=150)
    os.mkfifo(source / "img050.fifo.png")
    locked = source / "img100.locked.png"
    locked.write_bytes(png((5, 6, 7)))
    locked.chmod(0)
    script = (
        "import json, sys; from kgan.data.prepare import prepare\n"
        "dataset, report = prepare(sys.argv[1], sys.argv[2], size=8, workers=2)\n"
        "print(json.dumps(report.to_dict()))\n"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script, str(source), str(tmp_path / "out")],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail("prepare waited on the named pipe")
    finally:
        locked.chmod(0o644)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    reasons = dict(report["skipped_files"])
    assert reasons["img050.fifo.png"] == "refused: not a regular file"
    if os.geteuid() != 0:  # root reads any file
        assert reasons["img100.locked.png"].startswith("unreadable")
    assert report["used"] == 150 + (os.geteuid() == 0)
    assert stat.S_ISFIFO((source / "img050.fifo.png").lstat().st_mode)  # left as it was


@pytest.mark.parametrize("copies", [1, 2])
def test_the_summary_counts_duplicates_and_skips_in_words(tmp_path, copies):
    """`kgan data prepare`'s closing lines: '1 duplicate', '2 duplicates', and each reason a
    file was skipped with its count."""
    from helpers import kgan

    source = tmp_path / "source"
    source.mkdir()
    for i in range(12):
        Image.new("RGB", (20, 20), (i * 20, 7, 7)).save(source / f"{i:02d}.png")
    for copy in range(copies):
        (source / f"copy{copy}.png").write_bytes((source / "00.png").read_bytes())
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    result = kgan("data", "prepare", str(source), "--out", "prep", "--size", "16", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    noun = "duplicate" if copies == 1 else "duplicates"
    assert "12 images" in lines[0] and lines[0].endswith(f"{copies} {noun} dropped, 1 skipped"), lines
    assert len(lines) == 2 and lines[1].startswith("  skipped 1: "), lines
