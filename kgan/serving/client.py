"""A client for TF Serving's REST predict API, with a timeout, retries and one-line errors."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np

from kgan.errors import KganError

RETRYABLE_STATUS = (502, 503, 504)


def predict(
    server: str,
    model: str,
    inputs: dict[str, Any],
    *,
    signature: str = "serving_default",
    timeout: float = 30.0,
    retries: int = 2,
    backoff: float = 0.5,
) -> dict[str, Any]:
    """POST `/v1/models/<model>:predict` (columnar format); returns the `outputs` object.

    Connection failures, timeouts and 502/503/504 answers are retried `retries` times.
    """
    url = f"{server.rstrip('/')}/v1/models/{model}:predict"
    body = json.dumps({"signature_name": signature, "inputs": inputs}).encode()
    for attempt in range(retries + 1):
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                payload = response.read()
            break
        except urllib.error.HTTPError as error:
            if error.code in RETRYABLE_STATUS and attempt < retries:
                time.sleep(backoff * 2**attempt)
                continue
            detail = _error_text(error)
            raise KganError(f"{url} answered HTTP {error.code}{': ' + detail if detail else ''}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            if attempt < retries:
                time.sleep(backoff * 2**attempt)
                continue
            reason = getattr(error, "reason", error)
            raise KganError(
                f"cannot reach TF Serving at {server} ({reason}) after {retries + 1} tries: "
                "is the server running and the URL right?"
            ) from None
    try:
        answer = json.loads(payload)
        return answer["outputs"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise KganError(f"{url} sent a malformed answer (no JSON 'outputs'): {payload[:80]!r}") from None


def _error_text(error: urllib.error.HTTPError) -> str:
    try:
        text = error.read().decode("utf-8", "replace")
        return str(json.loads(text).get("error", text))[:200]
    except (json.JSONDecodeError, AttributeError, OSError):
        return ""


def generate_remote(
    server: str,
    model: str,
    z: np.ndarray,
    batch_size: int = 64,
    values: dict[str, list[str]] | None = None,
    **options,
) -> np.ndarray:
    """uint8 images `[N, H, W, 3]` for noise `z`, from the `serving_default` signature, in batches;
    with a conditional model's attribute `values` (per attribute, one per image; "" draws it),
    from its `conditional` signature."""
    chunks = []
    for start in range(0, len(z), batch_size):
        inputs = {"z": z[start : start + batch_size].tolist()}
        if values:
            inputs.update({name: column[start : start + batch_size] for name, column in values.items()})
            options = {**options, "signature": "conditional"}
        outputs = predict(server, model, inputs, **options)
        try:  # several outputs come by name; a signature with one output sends its value alone
            images = np.asarray(outputs["images"] if isinstance(outputs, dict) else outputs, dtype=np.uint8)
        except (KeyError, TypeError, ValueError):
            raise KganError(f"TF Serving model {model!r} did not return 'images': is it a kgan export?") from None
        if images.ndim != 4 or images.shape[-1] != 3 or len(images) != len(z[start : start + batch_size]):
            raise KganError(
                f"TF Serving model {model!r} returned images of shape {images.shape}, expected [N, H, W, 3]"
            )
        chunks.append(images)
    return np.concatenate(chunks)
