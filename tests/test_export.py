"""Export for TF Serving, loaded in fresh processes; the REST stand-in and the client; sampling sources."""

from __future__ import annotations

import base64
import json
import resource
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from helpers import (
    assert_one_line_error,
    closed_url,
    free_ports,
    kgan,
    python_env,
    start_kgan,
    tiny_config,
    wait_for_line,
)
from PIL import Image

from kgan.data.dataset import PreparedDataset
from kgan.errors import KganError
from kgan.runs import create_run
from kgan.sampling import fixed_noise, generate
from kgan.serving import sources
from kgan.serving.client import generate_remote, predict
from kgan.serving.export import export_run, next_version
from kgan.serving.server import PredictServer
from kgan.training import checkpoint
from kgan.training.session import train


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, small_dataset):
    run_dir = tmp_path_factory.mktemp("export") / "run"
    # 80 steps, not 3: after a few steps the BatchNorm moving statistics still hold their
    # initial values, and in inference mode the tiny generator's output then hardly depends
    # on z (below one uint8 level), which the seed and interpolation checks need.
    config = tiny_config(epochs=1, ema=0.9, steps_per_epoch=80)
    create_run(config, PreparedDataset(small_dataset), run_dir)
    train(run_dir)
    generator = checkpoint.load_generator(checkpoint.latest(run_dir), config)
    spread = np.asarray(generator(fixed_noise(11, 8, config.z_dim), training=False)).std(axis=0).mean()
    assert spread * 127.5 > 1.0, f"the trained generator barely depends on z (spread {spread})"
    return run_dir


@pytest.fixture(scope="module")
def exported(trained_run, tmp_path_factory):
    base = tmp_path_factory.mktemp("models") / "generator"
    path, _ = export_run(trained_run, base, checkpoint_choice="last")
    return base, path


def run_python(code: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=python_env(), timeout=300
    )


def test_export_layout_versions_and_atomicity(trained_run, exported, tmp_path):
    base, path = exported
    assert path == base / "1" and (path / "saved_model.pb").is_file() and (path / "variables").is_dir()
    second, _ = export_run(trained_run, base, checkpoint_choice="last")
    assert second == base / "2" and next_version(base) == 3
    assert sorted(p.name for p in base.iterdir()) == ["1", "2"]  # no temporary folders left
    with pytest.raises(KganError, match="immutable"):
        export_run(trained_run, base, version=1, checkpoint_choice="last")
    with pytest.raises(KganError, match="cannot write"):
        export_run(trained_run, Path("/proc/kgan-cannot-write-here"), checkpoint_choice="last")
    (tmp_path / "file").write_text("x")
    with pytest.raises(KganError, match="is a file"):
        export_run(trained_run, tmp_path / "file", checkpoint_choice="last")


def test_fresh_process_outputs_equal_the_keras_generator(trained_run, exported, tmp_path):
    _, path = exported
    config = tiny_config()
    z = fixed_noise(11, 5, config.z_dim)
    np.save(tmp_path / "z.npy", z)
    generator = checkpoint.load_generator(checkpoint.latest(trained_run), config)  # EMA weights
    expected = np.asarray(generator(z, training=False))
    code = """
import sys, numpy as np, tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
z = np.load(sys.argv[2])
out = model.signatures["serving_default"](z=tf.constant(z))
np.save(sys.argv[3], out["images_float"].numpy())
np.save(sys.argv[4], out["images"].numpy())
a = model.signatures["sample"](n=tf.constant(4), seed=tf.constant(7))["images"].numpy()
b = model.signatures["sample"](n=tf.constant(4), seed=tf.constant(7))["images"].numpy()
c = model.signatures["sample"](n=tf.constant(4), seed=tf.constant(8))["images"].numpy()
png = model.signatures["png"](n=tf.constant(4), seed=tf.constant(7))["png_bytes"].numpy()
decoded = np.stack([tf.io.decode_png(p).numpy() for p in png])
print(a.dtype, a.shape, bool((a == b).all()), bool((a != c).any()), bool((decoded == a).all()))
"""
    result = run_python(code, str(path), str(tmp_path / "z.npy"), str(tmp_path / "f.npy"), str(tmp_path / "u.npy"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["uint8", "(4,", "32,", "32,", "3)", "True", "True", "True"]
    np.testing.assert_allclose(np.load(tmp_path / "f.npy"), expected, atol=1e-5)
    assert np.array_equal(np.load(tmp_path / "u.npy"), generate(generator, z))


def test_saved_model_cli_show_and_run(exported):
    _, path = exported
    cli = Path(sys.executable).with_name("saved_model_cli")
    command = [str(cli)] if cli.exists() else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    env = python_env()
    show = subprocess.run(
        [*command, "show", "--dir", str(path), "--all"], capture_output=True, text=True, env=env, timeout=300
    )
    assert show.returncode == 0, show.stderr
    for text in ("signature_def['serving_default']", "signature_def['sample']", "signature_def['png']", "DT_UINT8"):
        assert text in show.stdout, text
    run = subprocess.run(
        [
            *command,
            "run",
            "--dir",
            str(path),
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--input_exprs",
            "z=" + str([[0.0] * 8, [0.5] * 8]),  # a Python literal: saved_model_cli evaluates no code
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert "images" in run.stdout


@pytest.fixture
def server(exported):
    base, _ = exported
    running = PredictServer(base, "generator").start()
    try:
        yield running
    finally:
        running.stop()


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_rest_server_answers_as_tf_serving_documents(server):
    # TF Serving's REST API (api_rest.md): columnar requests answer {"outputs": ...} — the value
    # itself for a one-output signature, an object by name for several; row requests answer
    # {"predictions": [...]}, one entry per instance.
    url = f"{server.url}/v1/models/generator:predict"
    several = post(url, {"signature_name": "sample", "inputs": {"n": 2, "seed": 1}})
    assert set(several["outputs"]) == {"images", "images_float"}
    assert np.asarray(several["outputs"]["images"]).shape == (2, 32, 32, 3)
    one = post(url, {"signature_name": "png", "inputs": {"n": 2, "seed": 1}})
    assert isinstance(one["outputs"], list) and len(one["outputs"]) == 2 and set(one["outputs"][0]) == {"b64"}
    assert base64.b64decode(one["outputs"][0]["b64"]).startswith(b"\x89PNG")
    rows = post(url, {"instances": [{"z": [0.0] * 8}, {"z": [0.5] * 8}]})
    assert len(rows["predictions"]) == 2 and set(rows["predictions"][0]) == {"images", "images_float"}
    with urllib.request.urlopen(f"{server.url}/v1/models/generator/metadata", timeout=60) as response:
        metadata = json.loads(response.read())
    assert metadata["model_spec"]["name"] == "generator"
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["z"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in default["inputs"]["z"]["tensor_shape"]["dim"]] == ["-1", "8"]
    assert (
        default["outputs"]["images"]["dtype"] == "DT_UINT8"
        and default["outputs"]["images_float"]["dtype"] == "DT_FLOAT"
    )
    assert signatures["png"]["inputs"]["n"]["dtype"] == "DT_INT32"
    assert signatures["png"]["outputs"]["png_bytes"]["dtype"] == "DT_STRING"


def test_rest_server_speaks_tf_serving_formats(server):
    row = predict(server.url, "generator", {"n": 2, "seed": 1}, signature="sample")
    assert np.asarray(row["images"]).shape == (2, 32, 32, 3)
    png = predict(server.url, "generator", {"n": 1, "seed": 1}, signature="png")
    assert set(png[0]) == {"b64"}
    source = sources.from_server(server.url, "generator")
    assert source.z_dim == 8
    z = fixed_noise(0, 3, 8)
    remote = generate_remote(server.url, "generator", z, batch_size=2)
    assert np.array_equal(remote, sources.from_saved_model(server.base_path)(z))


def test_client_errors_are_one_line(server, tmp_path):
    closed = closed_url()
    with pytest.raises(KganError, match="cannot reach TF Serving"):
        predict(closed, "generator", {"z": [[0.0] * 8]}, retries=1, backoff=0.01)
    with pytest.raises(KganError, match="HTTP 404"):
        predict(server.url, "nobody", {"z": [[0.0] * 8]})
    with pytest.raises(KganError, match="HTTP 400"):
        predict(server.url, "generator", {"z": [[0.0] * 3]})  # wrong width

    silent = socket.socket()  # accepts connections, never answers: a hung server
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    try:
        with pytest.raises(KganError, match="cannot reach"):
            predict(
                f"http://127.0.0.1:{silent.getsockname()[1]}",
                "generator",
                {"z": [[0.0] * 8]},
                timeout=0.5,
                retries=1,
                backoff=0.01,
            )
    finally:
        silent.close()

    class Garbage(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            self.send_response(200)
            self.send_header("Content-Length", "9")
            self.end_headers()
            self.wfile.write(b"not json!")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with pytest.raises(KganError, match="malformed"):
            predict(f"http://127.0.0.1:{httpd.server_address[1]}", "generator", {"z": [[0.0] * 8]})
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_sources_refuse_bad_inputs(tmp_path, small_dataset):
    import tensorflow as tf

    class NotAGenerator(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
        def __call__(self, x):
            return {"y": x * 2}

    module = NotAGenerator()
    tf.saved_model.save(module, str(tmp_path / "other"), signatures={"serving_default": module.__call__})
    with pytest.raises(KganError, match="not a kgan generator export"):
        sources.from_saved_model(tmp_path / "other")
    with pytest.raises(KganError, match=r"no saved_model\.pb"):
        sources.from_saved_model(tmp_path)
    empty_run = create_run(tiny_config(), PreparedDataset(small_dataset), tmp_path / "fresh")
    with pytest.raises(KganError, match="no checkpoint yet"):
        sources.from_run(empty_run)


@pytest.mark.slow  # the same images from a run and its server through `kgan sample` subprocesses
def test_kgan_sample_from_server_matches_local(server, trained_run, tmp_path):
    remote = kgan("sample", "--server", server.url, "--n", "6", "--seed", "3", "--out", "remote.png", cwd=tmp_path)
    assert remote.returncode == 0, remote.stderr
    local = kgan(
        "sample",
        "--run-dir",
        str(trained_run),
        "--n",
        "6",
        "--seed",
        "3",
        "--out",
        "local.png",
        "--individual",
        "each",
        cwd=tmp_path,
    )
    assert local.returncode == 0, local.stderr
    assert np.array_equal(
        np.asarray(Image.open(tmp_path / "remote.png")), np.asarray(Image.open(tmp_path / "local.png"))
    )
    assert len(list((tmp_path / "each").glob("sample-*.png"))) == 6
    walk = kgan("sample", "--run-dir", str(trained_run), "--interpolate", "5", "--out", "walk.gif", cwd=tmp_path)
    assert walk.returncode == 0, walk.stderr
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 8  # there and back
    for args, words in [
        (("--server", "http://127.0.0.1:9", "--timeout", "0.5"), "cannot reach"),
        (("--run-dir", str(trained_run), "--n", "0"), "--n"),
        (("--run-dir", str(trained_run), "--n", "100001"), "--n"),
        (("--run-dir", str(trained_run), "--out", "/proc/nope/x.png"), "cannot write"),
        (("--run-dir", str(trained_run), "--server", server.url), "only one"),
    ]:
        assert_one_line_error(kgan("sample", *args, cwd=tmp_path), words)


def post_status(url: str, body: dict) -> tuple[int, dict]:
    """(HTTP status, JSON answer) of a predict request, errors included."""
    try:
        return 200, post(url, body)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_signatures_and_server_refuse_abuse_with_a_reason(server, exported):
    url = f"{server.url}/v1/models/generator:predict"
    for body, words in [
        ({"signature_name": "sample", "inputs": {"n": 200_000, "seed": 7}}, "at most 1024 images"),
        ({"signature_name": "png", "inputs": {"n": 5000, "seed": 7}}, "at most 1024 images"),
        ({"signature_name": "sample", "inputs": {"n": -5, "seed": 7}}, "n must be >= 0"),
        ({"inputs": {"z": [[0.0] * 3]}}, "must have shape [-1, 8], got [1, 3]"),
        ({"inputs": {"z": [[0.0] * 8] * 1025}}, "at most 1024 images"),
        ({"inputs": {"z": "noise"}}, "must hold float32"),
        ({"signature_name": "sample", "inputs": {"n": 2}}, "missing input 'seed'"),
    ]:
        status, answer = post_status(url, body)
        assert status == 400 and words in answer["error"], (body, answer)
    # The bound lives in the SavedModel itself, so TF Serving refuses the same (INVALID_ARGUMENT).
    model = tf.saved_model.load(str(exported[1]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 1024 images"):
        model.signatures["sample"](n=tf.constant(2000), seed=tf.constant(1))
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=30) as raw:
        raw.sendall(b"POST /v1/models/generator:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n")
        assert b" 413 " in raw.recv(4096).split(b"\r\n")[0]


def test_server_under_concurrent_good_and_abusive_load(server):
    url = f"{server.url}/v1/models/generator:predict"
    good = {"signature_name": "sample", "inputs": {"n": 4, "seed": 3}}
    abusive = [{"signature_name": "sample", "inputs": {"n": 200_000, "seed": 1}}, {"inputs": {"z": [[1.0]]}}]
    expected = np.asarray(post(url, good)["outputs"]["images"])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    answers: list = []

    def client(index: int) -> None:
        for round_ in range(6):
            body = good if (index + round_) % 2 == 0 else abusive[(index + round_) % len(abusive)]
            answers.append((body is good, *post_status(url, body)))
            with urllib.request.urlopen(f"{server.url}/v1/models/generator", timeout=30) as status:
                answers.append((None, status.status, {}))

    threads = [threading.Thread(target=client, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    goods = [(code, answer) for is_good, code, answer in answers if is_good]
    bads = [code for is_good, code, _ in answers if is_good is False]
    assert len(goods) == 24 and len(bads) == 24 and len(answers) == 96
    assert all(code == 200 and np.array_equal(answer["outputs"]["images"], expected) for code, answer in goods)
    assert set(bads) == {400} and all(code == 200 for is_good, code, _ in answers if is_good is None)
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert growth_mb < 300, growth_mb


def call(url: str, method: str = "GET", body: dict | None = None, origin: str | None = None):
    """(status, headers, JSON or None) of one request, errors included."""
    headers = {"Content-Type": "application/json", **({"Origin": origin} if origin else {})}
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, response.headers, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, error.headers, json.loads(error.read())


def test_browsers_of_listed_origins_may_call_the_server_and_others_are_refused(exported):
    base, _ = exported
    page = "http://localhost:3000"
    server = PredictServer(base, "generator", allow_origins=(page,)).start()
    try:
        predict_url = f"{server.url}/v1/models/generator:predict"
        status, headers, _ = call(predict_url, "OPTIONS", origin=page)  # the browser's preflight
        assert status == 204 and headers["Access-Control-Allow-Origin"] == page
        assert "POST" in headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in headers["Access-Control-Allow-Headers"]
        status, headers, answer = call(
            predict_url, "POST", {"signature_name": "sample", "inputs": {"n": 1, "seed": 1}}, page
        )
        assert status == 200 and headers["Access-Control-Allow-Origin"] == page and "outputs" in answer
        for method, body in (("POST", {"inputs": {"z": [[0.0] * 8]}}), ("OPTIONS", None), ("GET", None)):
            status, headers, answer = call(predict_url, method, body, origin="http://elsewhere.example")
            assert status == 403 and "--allow-origin http://elsewhere.example" in answer["error"]
            assert "Access-Control-Allow-Origin" not in headers
        status, headers, _ = call(f"{server.url}/v1/models/generator")  # no Origin: not a browser, served
        assert status == 200 and "Access-Control-Allow-Origin" not in headers
    finally:
        server.stop()
    anyone = PredictServer(base, "generator", allow_origins=("*",)).start()
    try:
        status, headers, _ = call(f"{anyone.url}/v1/models/generator", origin="http://elsewhere.example")
        assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    finally:
        anyone.stop()


def test_kgan_serve_listens_where_told_and_warns_off_loopback(exported, tmp_path):
    base, _ = exported
    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        port = free_ports(1)[0]
        process = start_kgan("serve", "--model-base-path", str(base), "--host", host, "--port", str(port), cwd=tmp_path)
        try:
            wait_for_line(process, "serving generator")
            status, _, _ = call(f"http://127.0.0.1:{port}/v1/models/generator")
            assert status == 200
        finally:
            process.terminate()
            _, stderr = process.communicate(timeout=60)
        assert ("kgan: warning: listening on 0.0.0.0" in stderr) == warned, stderr
