"""A local stand-in for TF Serving's REST API, running an exported SavedModel.

For machines without Docker and for tests: it answers the same requests as
`tensorflow/serving` for one model — `GET /v1/models/<name>` (status) and
`GET .../metadata` and `POST /v1/models/<name>[/versions/<v>]:predict` with the columnar
(`"inputs"` → `"outputs"`) or row (`"instances"` → `"predictions"`) format, as its REST API
documents them: a signature with one output answers with that output's value, unnamed; with
several, an object by output name; metadata gives each signature's inputs and outputs with
`DT_*` dtypes and its `method_name`. Like TF Serving it serves the highest version under the
model base path, and sends `*_bytes` outputs base64-encoded.

Browsers: with `allow_origins`, a page from a listed origin (or any, with "*") may call
it — CORS headers on every answer and a preflight (`OPTIONS`) answered, as TF Serving
sends them; a request from an origin not listed is refused (403) rather than computed.
It is not a production server: use TF Serving for that (see the README).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from kgan.errors import KganError, first_line
from kgan.serving.export import version_folder

MAX_BODY_BYTES = 16 << 20  # a request body (JSON); the export bounds the images per request
ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<verb>:predict|/metadata)?$")


def load_latest(base: Path) -> tuple[int, Any]:
    """The highest complete version under a model base path, loaded."""
    folder = version_folder(base)
    if folder is None or not folder.name.isdigit():
        raise KganError(f"no version folder under {base}: export one with `kgan export --out {base}`")
    return int(folder.name), tf.saved_model.load(str(folder))


def _jsonable(name: str, value: np.ndarray) -> Any:
    if name.endswith("_bytes"):
        return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(value).tolist()
    return value.tolist()


def _input_tensor(key: str, given: dict, spec: tf.TensorSpec, names: list[str]) -> tf.Tensor:
    """One input as the signature wants it, or a ValueError that says what is wrong."""
    if key not in given:
        raise ValueError(f"missing input {key!r}: this signature takes {', '.join(names)}")
    try:
        array = np.asarray(given[key], dtype=spec.dtype.as_numpy_dtype)
    except (TypeError, ValueError):
        raise ValueError(f"input {key!r} must hold {spec.dtype.name} values") from None
    if not spec.shape.is_compatible_with(array.shape):
        wanted = [-1 if d is None else d for d in spec.shape.as_list()]
        raise ValueError(f"input {key!r} must have shape {wanted}, got {list(array.shape)}")
    return tf.constant(array, dtype=spec.dtype)


def op_error_text(error: tf.errors.OpError) -> str:
    """The message a failed graph op means for the client: an assertion's own text if any."""
    found = re.search(r"assertion failed: \[([^\]]+)\]", error.message or "")
    if found:
        return found.group(1)
    lines = [line for line in (error.message or "").splitlines() if line.strip() and "Graph execution" not in line]
    return (lines[-1] if lines else type(error).__name__)[:200]


CORS_METHODS = "GET, POST, OPTIONS"
CORS_HEADERS = "Content-Type"


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server to this machine."""
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


class PredictServer:
    """Serve `base` (a model base path) as model `name` on `host`:`port` (0: any free port);
    browsers of `allow_origins` (origins such as "http://localhost:3000", or "*") may call it."""

    def __init__(
        self,
        base: Path,
        name: str = "generator",
        host: str = "127.0.0.1",
        port: int = 0,
        allow_origins: tuple[str, ...] = (),
    ):
        self.name, self.base_path = name, Path(base)
        self.allow_origins = tuple(origin.rstrip("/") for origin in allow_origins)
        self.version, self.model = load_latest(self.base_path)
        self.httpd = ThreadingHTTPServer((host, port), _Handler)
        self.httpd.predict_server = self
        self.httpd.daemon_threads = True  # each request its own thread: a slow one blocks no other
        self.thread: threading.Thread | None = None

    def allows(self, origin: str) -> bool:
        return "*" in self.allow_origins or origin.rstrip("/") in self.allow_origins

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def metadata(self) -> dict:
        """The signatures in TF Serving's metadata layout: inputs and outputs (DT_* dtypes,
        shapes, tensor names) and the method name."""

        def tensor_json(dtype: tf.DType, shape: tf.TensorShape, name: str) -> dict:
            dims = [{"size": str(-1 if d is None else d), "name": ""} for d in shape.as_list()]
            return {
                "dtype": types_pb2.DataType.Name(dtype.as_datatype_enum),
                "tensor_shape": {"dim": dims, "unknown_rank": False},
                "name": name,
            }

        def signature_json(name: str, function) -> dict:
            inputs = function.structured_input_signature[1]
            outputs = function.structured_outputs
            graph_outputs = dict(zip(sorted(outputs), function.outputs))
            return {
                "inputs": {key: tensor_json(s.dtype, s.shape, f"{name}_{key}:0") for key, s in inputs.items()},
                "outputs": {key: tensor_json(s.dtype, s.shape, graph_outputs[key].name) for key, s in outputs.items()},
                "method_name": "tensorflow/serving/predict",
            }

        signatures = {name: signature_json(name, function) for name, function in self.model.signatures.items()}
        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": signatures}},
        }

    def predict(self, body: dict) -> dict:
        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in self.model.signatures:
            raise KeyError(f'Serving signature name: "{signature_name}" not found in signature def')
        function = self.model.signatures[signature_name]
        specs = function.structured_input_signature[1]
        if "inputs" in body:
            given = body["inputs"] if isinstance(body["inputs"], dict) else {next(iter(specs)): body["inputs"]}
            rows = False
        elif "instances" in body:
            instances = body["instances"]
            if instances and isinstance(instances[0], dict):
                given = {key: [row[key] for row in instances] for key in specs}
            else:
                given = {next(iter(specs)): instances}
            rows = True
        else:
            raise ValueError("Missing 'inputs' or 'instances' key")
        tensors = {key: _input_tensor(key, given, spec, list(specs)) for key, spec in specs.items()}
        outputs = {key: value.numpy() for key, value in function(**tensors).items()}
        keys = list(outputs)
        if rows:
            if len(keys) == 1:
                return {"predictions": _jsonable(keys[0], outputs[keys[0]])}
            count = len(next(iter(outputs.values())))
            columns = {key: _jsonable(key, value) for key, value in outputs.items()}
            return {"predictions": [{key: columns[key][i] for key in keys} for i in range(count)]}
        if len(keys) == 1:  # one output: its value, without its name
            return {"outputs": _jsonable(keys[0], outputs[keys[0]])}
        return {"outputs": {key: _jsonable(key, value) for key, value in outputs.items()}}

    def start(self) -> PredictServer:
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(BaseHTTPRequestHandler):
    """One request to a `PredictServer`: TF Serving's REST routes, with CORS and its limits."""

    @property
    def predict_server(self) -> PredictServer:
        return self.server.predict_server  # set on the HTTP server by PredictServer

    def log_message(self, *args):  # quiet: no access log on stderr
        pass

    def _origin_refused(self) -> bool:
        """Answer 403 to a browser whose origin is not allowed; True if it was refused."""
        origin = self.headers.get("Origin")
        if origin is None or self.predict_server.allows(origin):
            return False
        self._send(403, {"error": f"origin {origin} is not allowed: start kgan serve with --allow-origin {origin}"})
        return True

    def do_OPTIONS(self):  # a browser's preflight before a cross-origin POST
        if self._origin_refused():
            return
        self.send_response(204)
        self._cors_headers()
        self.send_header("Access-Control-Allow-Methods", CORS_METHODS)
        self.send_header("Access-Control-Allow-Headers", CORS_HEADERS)
        self.send_header("Access-Control-Max-Age", "600")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):
        if self._origin_refused():
            return
        match = ROUTE.match(self.path)
        if not match or match["verb"] == ":predict" or match["name"] != self.predict_server.name:
            return self._send(404, {"error": f"Servable not found for request: {self.path}"})
        if match["verb"] == "/metadata":
            return self._send(200, self.predict_server.metadata())
        state = {"version": str(self.predict_server.version), "state": "AVAILABLE", "status": {"error_code": "OK"}}
        self._send(200, {"model_version_status": [state]})

    def do_POST(self):
        if self._origin_refused():
            return
        match = ROUTE.match(self.path)
        if not match or not match["verb"] or match["name"] != self.predict_server.name:
            return self._send(404, {"error": f"Servable not found for request: {self.path}"})
        if match["version"] and int(match["version"]) != self.predict_server.version:
            return self._send(404, {"error": f"Servable version {match['version']} not found"})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # the body is not read
            limit = MAX_BODY_BYTES >> 20
            return self._send(413, {"error": f"request body of {length} bytes is over the {limit} MB limit"})
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            self._send(200, self.predict_server.predict(body))
        except tf.errors.OpError as error:
            self._send(400, {"error": op_error_text(error)})
        except (ValueError, KeyError, TypeError) as error:
            text = error.args[0] if isinstance(error, KeyError) and error.args else str(error)
            self._send(400, {"error": first_line(str(text), limit=300, empty=type(error).__name__)})

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self._cors_headers()
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _cors_headers(self) -> None:
        origin = self.headers.get("Origin")
        if origin is not None and self.predict_server.allows(origin):
            self.send_header("Access-Control-Allow-Origin", "*" if "*" in self.predict_server.allow_origins else origin)
            self.send_header("Vary", "Origin")
