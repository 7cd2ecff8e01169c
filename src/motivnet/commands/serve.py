"""``motivnet serve``: the HTTP API (``motivnet.serve``) on one loaded model."""
from __future__ import annotations

import argparse
import sys

from ..serve import DEFAULT_MAX_BODY_BYTES, make_server
from .predict import add_fast_path_options, add_recognizer_options, recognizer_from_args


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="answer emotion predictions over HTTP",
        description="Load the model once and answer POST /predict (an image as the body, or a multipart form "
        "of files; ?detect=0 for pre-cropped faces, ?no_face=whole to classify whole any image without a found face) "
        "with predict's JSON records; GET /health describes the model.",
        epilog="Example: motivnet serve --port 8000 & curl -F file=@photo.jpg http://127.0.0.1:8000/predict",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on; 0.0.0.0 for every interface (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port; 0 picks a free one (default: %(default)s)")
    add_recognizer_options(p)
    p.add_argument("--max-body-mb", type=float, default=DEFAULT_MAX_BODY_BYTES / 2**20,
                   help="refuse request bodies over this many MiB (default: %(default)g)")
    p.add_argument("--quiet", action="store_true", help="do not log each request on stderr")
    add_fast_path_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    recognizer = recognizer_from_args(args)
    server = make_server(recognizer, args.host, args.port, int(args.max_body_mb * 2**20), quiet=args.quiet)
    host, port = server.server_address[:2]
    print(f"motivnet serve: listening on http://{host}:{port} (POST /predict, GET /health; Ctrl-C stops)",
          file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0
