"""A local stand-in for TF Serving's REST API, running an exported SavedModel.

For machines without Docker and for tests: it answers the same requests as
`tensorflow/serving` for one model — `GET /v1/models/<name>` (status) and
`POST /v1/models/<name>[/versions/<v>]:predict` with the columnar (`"inputs"` →
`"outputs"`) or row (`"instances"` → `"predictions"`) format. Like TF Serving it serves
the highest version under the model base path, and sends `*_bytes` outputs base64-encoded.
It is not a production server: use TF Serving for that (see the README).
"""

from __future__ import annotations

import base64
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from kgan.errors import KganError
from kgan.serving.export import next_version

ROUTE = re.compile(r"^/v1/models/(?P<name>[^/:]+)(?:/versions/(?P<version>\d+))?(?P<verb>:predict|/metadata)?$")


def load_latest(base: Path) -> tuple[int, Any]:
    """The highest version under a model base path, loaded."""
    version = next_version(base) - 1
    if version < 1:
        raise KganError(f"no version folder under {base}: export one with `kgan export --out {base}`")
    return version, tf.saved_model.load(str(Path(base) / str(version)))


def _jsonable(name: str, value: np.ndarray) -> Any:
    if name.endswith("_bytes"):
        return np.vectorize(lambda b: {"b64": base64.b64encode(b).decode()}, otypes=[object])(value).tolist()
    return value.tolist()


class PredictServer:
    """Serve `base` (a model base path) as model `name` on 127.0.0.1:`port` (0: any free port)."""

    def __init__(self, base: Path, name: str = "generator", host: str = "127.0.0.1", port: int = 0):
        self.name, self.base_path = name, Path(base)
        self.version, self.model = load_latest(self.base_path)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet: no access log on stderr
                pass

            def do_GET(self):
                match = ROUTE.match(self.path)
                if not match or match["verb"] == ":predict" or match["name"] != server.name:
                    return self._send(404, {"error": f"Servable not found for request: {self.path}"})
                if match["verb"] == "/metadata":
                    return self._send(200, server.metadata())
                state = {"version": str(server.version), "state": "AVAILABLE", "status": {"error_code": "OK"}}
                self._send(200, {"model_version_status": [state]})

            def do_POST(self):
                match = ROUTE.match(self.path)
                if not match or not match["verb"] or match["name"] != server.name:
                    return self._send(404, {"error": f"Servable not found for request: {self.path}"})
                if match["version"] and int(match["version"]) != server.version:
                    return self._send(404, {"error": f"Servable version {match['version']} not found"})
                try:
                    length = int(self.headers.get("Content-Length", 0))
                    body = json.loads(self.rfile.read(length) or b"{}")
                    self._send(200, server.predict(body))
                except (ValueError, KeyError, TypeError, tf.errors.OpError) as error:
                    self._send(400, {"error": str(error).splitlines()[0] if str(error) else type(error).__name__})

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def metadata(self) -> dict:
        """The signature shapes, in TF Serving's metadata layout (sizes only)."""

        def spec_json(spec) -> dict:
            dims = [{"size": str(-1 if d is None else d)} for d in spec.shape.as_list()]
            return {"dtype": spec.dtype.name, "tensor_shape": {"dim": dims}, "name": spec.name}

        signatures = {
            name: {"inputs": {key: spec_json(spec) for key, spec in function.structured_input_signature[1].items()}}
            for name, function in self.model.signatures.items()
        }
        return {
            "model_spec": {"name": self.name, "version": str(self.version)},
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
        tensors = {key: tf.constant(np.asarray(given[key]), dtype=spec.dtype) for key, spec in specs.items()}
        with self.lock:
            outputs = {key: value.numpy() for key, value in function(**tensors).items()}
        if rows:
            keys = list(outputs)
            if len(keys) == 1:
                return {"predictions": _jsonable(keys[0], outputs[keys[0]])}
            count = len(next(iter(outputs.values())))
            columns = {key: _jsonable(key, value) for key, value in outputs.items()}
            return {"predictions": [{key: columns[key][i] for key in keys} for i in range(count)]}
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
