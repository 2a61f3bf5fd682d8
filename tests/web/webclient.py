"""A tiny HTTP client for the web-app tests (standard library only, bounded timeouts)."""

from __future__ import annotations

import http.client
import io
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np

TIMEOUT_S = 30


@dataclass
class Reply:
    """An HTTP response: status, headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        assert self.headers.get("content-type", "").startswith("application/json"), self.headers
        return json.loads(self.body)


def npy_bytes(data: np.ndarray) -> bytes:
    """The bytes of ``data`` saved as a ``.npy`` file (for uploads)."""
    buffer = io.BytesIO()
    np.save(buffer, data, allow_pickle=False)
    return buffer.getvalue()


def multipart(fields: dict[str, str] | None = None,
              files: dict[str, tuple[str, bytes]] | None = None) -> tuple[bytes, str]:
    """Encode form fields and files as multipart/form-data; returns (body, content type)."""
    boundary = "----emrestore" + secrets.token_hex(8)
    parts = []
    for name, value in (fields or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, data) in (files or {}).items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        parts.append(head + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(base_url: str, method: str, path: str, *, body: bytes | Iterable[bytes] | None = None,
            headers: dict[str, str] | None = None) -> Reply:
    """Send one request to the server at ``base_url`` and read the whole reply.

    An iterable ``body`` with a ``Transfer-Encoding: chunked`` header is sent chunked.
    """
    url = urlsplit(base_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=TIMEOUT_S)
    chunked = (headers or {}).get("Transfer-Encoding") == "chunked"
    try:
        connection.request(method, path, body=body, headers=headers or {}, encode_chunked=chunked)
        response = connection.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def get(base_url: str, path: str, **kwargs: Any) -> Reply:
    return request(base_url, "GET", path, **kwargs)


def post_form(base_url: str, path: str, fields: dict[str, str] | None = None,
              files: dict[str, tuple[str, bytes]] | None = None) -> Reply:
    body, content_type = multipart(fields, files)
    return request(base_url, "POST", path, body=body, headers={"Content-Type": content_type})
