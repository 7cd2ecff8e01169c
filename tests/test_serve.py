"""`motivnet serve`: the HTTP API answers with predict's records, and refuses bad requests in one line."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid

import numpy as np
import pytest
from PIL import Image

import motivnet
from motivnet.faces import Face
from motivnet.serve import make_server


class HalvesDetector:
    """One face in each half of a wide image, none in a black one."""

    def detect(self, image: np.ndarray) -> list[Face]:
        h, w = image.shape[:2]
        if image.max() == 0:
            return []
        return [Face((0, 0, w / 2, h), 0.9, None), Face((w / 2, 0, w, h), 0.8, None)]


def png(shape: tuple[int, ...], seed: int = 0) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(1, 255, shape, dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def multipart(files: list[tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = [
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
        f"Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n"
        for name, data in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def post(url: str, body: bytes, content_type: str = "image/png") -> tuple[int, object]:
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture()
def server(weights):
    recognizer = motivnet.load(weights, detector=HalvesDetector())
    srv = make_server(recognizer, port=0, max_body_bytes=200_000, quiet=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", recognizer
    srv.shutdown()
    srv.server_close()


def test_multipart_files_get_predicts_records_and_a_bad_file_does_not_stop_the_rest(server):
    url, recognizer = server
    good, grey = png((40, 80, 3)), png((48, 96), seed=1)
    body, ctype = multipart([("a.png", good), ("notes.jpg", b"not an image"), ("grey.png", grey)])
    status, records = post(url + "/predict", body, ctype)
    assert status == 200
    assert [(r["file"], r["face"]) for r in records] == [("a.png", 0), ("a.png", 1), ("notes.jpg", None), ("grey.png", 0), ("grey.png", 1)]
    assert "not an image" in records[2]["error"] and records[2]["label"] is None
    expected = [r.to_dict() for r in recognizer.predict([good])]  # the same answer as the Python API
    for got, want in zip(records[:2], expected):
        assert got["label"] == want["label"] and got["probs"] == want["probs"] and got["box"] == want["box"]
    assert abs(sum(records[3]["probs"].values()) - 1) < 1e-3


def test_raw_body_and_detect_switch(server):
    url, _ = server
    status, records = post(url + "/predict", png((40, 80, 3)))
    assert status == 200 and [r["file"] for r in records] == ["body", "body"]  # two halves: two faces
    status, records = post(url + "/predict?detect=0", png((40, 80, 3)))
    assert status == 200 and len(records) == 1 and records[0]["box"] == [0.0, 0.0, 80.0, 40.0]
    status, records = post(url + "/predict", _black_png())
    assert status == 200 and "no face" in records[0]["error"]
    status, records = post(url + "/predict?no_face=whole", _black_png())
    assert status == 200 and records[0]["error"] is None and records[0]["box"] == [0.0, 0.0, 30.0, 30.0]
    status, payload = post(url + "/predict?no_face=maybe", _black_png())
    assert status == 400 and "no_face=maybe" in payload["error"]


def _black_png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (30, 30)).save(buf, "PNG")
    return buf.getvalue()


def test_unusable_requests_get_a_status_and_one_line(server):
    url, _ = server
    cases = [
        (post(url + "/predict", b""), 400, "empty body"),
        (post(url + "/predict", b"x" * 300_000), 413, "over the limit"),
        (post(url + "/predict?detect=maybe", png((8, 8, 3))), 400, "detect=maybe"),
        (post(url + "/classify", png((8, 8, 3))), 404, "no such endpoint"),
        (post(url + "/predict", *multipart([])), 400, "has no files"),
    ]
    for (status, payload), want_status, reason in cases:
        assert status == want_status and reason in payload["error"] and "\n" not in payload["error"]
    import http.client

    conn = http.client.HTTPConnection(url.split("//")[1], timeout=30)
    conn.putrequest("POST", "/predict")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    conn.send(b"4\r\nabcd\r\n0\r\n\r\n")
    answer = conn.getresponse()
    assert answer.status == 411 and "Content-Length" in json.loads(answer.read())["error"]
    conn.close()
    with urllib.request.urlopen(url + "/health", timeout=30) as r:  # still up after all that
        health = json.loads(r.read())
    assert health["status"] == "ok" and health["labels"] == list(motivnet.AFFECTNET8.classes) and health["tta"] == "none"


def test_cli_serves_until_stopped(weights):
    cmd = [sys.executable, "-m", "motivnet.cli", "serve", "--weights", str(weights), "--no-detect", "--port", "0", "--quiet"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stderr.readline()
        port = re.search(r"http://[\d.]+:(\d+)", line)
        assert port, line
        status, records = post(f"http://127.0.0.1:{port.group(1)}/predict", png((32, 32, 3)))
        assert status == 200 and records[0]["label"] in motivnet.AFFECTNET8.classes
        status, payload = post(f"http://127.0.0.1:{port.group(1)}/predict?detect=1", png((32, 32, 3)))
        assert status == 400 and "detector" in payload["error"]  # served with --no-detect
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_model_fault_is_a_500_and_the_server_keeps_serving(server, monkeypatch):
    url, recognizer = server

    def broken(crops):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(recognizer, "classify", broken)
    status, payload = post(url + "/predict", png((40, 80, 3)))
    assert status == 500 and payload["error"] == "internal error (RuntimeError: out of memory)"
    monkeypatch.undo()
    status, records = post(url + "/predict", png((40, 80, 3)))
    assert status == 200 and len(records) == 2
