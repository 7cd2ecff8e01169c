"""An HTTP API over one ``EmotionRecognizer``, on the standard library's HTTP server.

    POST /predict    the image as the raw body (any image type), or a multipart/form-data form
                     with one or more files (``curl -F file=@a.jpg -F file=@b.jpg``);
                     ``?detect=0`` classifies whole images as they are (detecting scored higher even on face crops);
                     ``?no_face=whole`` classifies whole only the images in which no face is found
                     (``?no_face=error`` reports them; the default is the server's ``--no-face``).
                     200 -> the JSON records of ``motivnet predict --json``: one per face, or one
                     with an ``error`` per image that could not be read or had no face, while the
                     other images are still labelled.
    GET  /health     200 -> {"status": "ok", "labels": [...], "tta": ...}

A request that is itself unusable (no body, a body over the limit, a chunked body, a form without files) gets a
4xx status and {"error": "one line"}. The model is loaded once; requests are read concurrently but
classified one at a time, since torch already uses every thread it is given.
"""
from __future__ import annotations

import email.parser
import email.policy
import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .faces.base import NO_FACE_CHOICES

if TYPE_CHECKING:
    from .recognizer import EmotionRecognizer

#: Bodies larger than this are refused before they are read (413).
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024
RAW_BODY_NAME = "body"  # the records' "file" for an image sent as the raw body


class RequestError(Exception):
    """A request the API cannot serve: its HTTP status and a one-line reason."""

    def __init__(self, status: HTTPStatus, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def parse_images(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    """A request body -> (name, image bytes) pairs: every file of a multipart form, or the body."""
    if not body:
        raise RequestError(HTTPStatus.BAD_REQUEST, "empty body: send an image, or a multipart form with files")
    if not content_type.lower().startswith("multipart/form-data"):
        return [(RAW_BODY_NAME, body)]
    header = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(header + body)
    files = [
        (part.get_filename() or f"part{i}", part.get_payload(decode=True) or b"")
        for i, part in enumerate(message.iter_parts())
        if part.get_filename() is not None or part.get_content_maintype() == "image"
    ]
    if not files:
        raise RequestError(HTTPStatus.BAD_REQUEST, "multipart form has no files (send them as file fields)")
    return files


def make_server(
    recognizer: "EmotionRecognizer",
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    quiet: bool = False,
) -> ThreadingHTTPServer:
    """A server (not yet serving: call ``serve_forever``) answering with ``recognizer``; port 0
    picks a free one (``server.server_address``)."""
    lock = threading.Lock()
    health = {"status": "ok", "labels": list(recognizer.labels), "tta": recognizer.tta.name}

    class Handler(BaseHTTPRequestHandler):
        server_version = "motivnet"

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if urlsplit(self.path).path == "/health":
                self._send(HTTPStatus.OK, health)
            else:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"{self.path}: no such endpoint (GET /health, POST /predict)"})

        def do_POST(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            try:
                if url.path != "/predict":
                    raise RequestError(HTTPStatus.NOT_FOUND, f"{url.path}: no such endpoint (POST /predict)")
                query = parse_qs(url.query)
                detect = _flag(query["detect"][-1]) if "detect" in query else None  # None: if it has a detector
                no_face = _no_face(query["no_face"][-1]) if "no_face" in query else None  # None: the server's --no-face
                images = parse_images(self.headers.get("Content-Type", ""), self._body())
                with lock:
                    records = [r for recs in recognizer.iter_predict(images, detect=detect, no_face=no_face) for r in recs]
            except RequestError as e:
                self._send(e.status, {"error": e.reason})
                return
            except ValueError as e:  # e.g. detect=1 on a recognizer built without a detector
                self._send(HTTPStatus.BAD_REQUEST, {"error": str(e)})
                return
            except Exception as e:  # a fault of ours: answer it in one line and keep serving
                self.log_error("predict failed: %s: %s", type(e).__name__, e)
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(e).__name__}: {e})"})
                return
            for r in records:
                if r.error:  # the operator sees each failed image too, as predict prints it
                    self.log_message("%s: %s", r.file, r.error)
            self._send(HTTPStatus.OK, [r.to_dict() for r in records])

        def _body(self) -> bytes:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.close_connection = True
                raise RequestError(HTTPStatus.LENGTH_REQUIRED, "chunked bodies are not supported: send a Content-Length")
            try:
                length = int(self.headers.get("Content-Length", "0"))
            except ValueError:
                raise RequestError(HTTPStatus.BAD_REQUEST, "Content-Length is not a number") from None
            if length > max_body_bytes:
                self.close_connection = True  # the unread body must not be parsed as the next request
                raise RequestError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                   f"body of {length} bytes is over the limit of {max_body_bytes}")
            return self.rfile.read(length)

        def _send(self, status: HTTPStatus, payload: Any) -> None:
            data = (json.dumps(payload) + "\n").encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            if not quiet:
                super().log_message(format, *args)

    return ThreadingHTTPServer((host, port), Handler)


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise RequestError(HTTPStatus.BAD_REQUEST, f"detect={value}: expected 1 or 0")


def _no_face(value: str) -> str:
    if value not in NO_FACE_CHOICES:
        raise RequestError(HTTPStatus.BAD_REQUEST, f"no_face={value}: expected {' or '.join(NO_FACE_CHOICES)}")
    return value


__all__ = ["DEFAULT_MAX_BODY_BYTES", "RequestError", "make_server", "parse_images"]
