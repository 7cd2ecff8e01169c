"""``motivnet predict PATH...``: emotion labels for every face in files, folders and globs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from ..fileio import atomic_write
from ..outputs import FORMATS, draw_records, render, unique_path
from ..preprocess import DEFAULT_MAX_PIXELS, ImageError, decode_image
from ..records import FaceRecord
from ..sources import expand_sources

# Below this many files a progress bar is noise.
PROGRESS_MIN_FILES = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="label the emotion of every face in images",
        description="Detect faces, align them and label each one's emotion.",
        epilog="Exit codes: 0 every input succeeded, 1 some inputs failed (each named on stderr "
        "and carried as a record with an 'error'), 2 usage or fatal error.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders (searched recursively) or globs")
    p.add_argument("--weights", "-w", help="model folder or checkpoint (default: the bundled model)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="print JSON records")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV rows")
    p.add_argument("--output", "-o", type=Path, help="write the records to this file instead of stdout")
    p.add_argument("--save-annotated", type=Path, metavar="DIR", help="draw boxes and labels into copies in DIR")
    p.add_argument("--no-detect", action="store_true", help="classify whole images (faces already cropped)")
    p.add_argument("--detector", default="auto", help="face detector backend (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="faces per model batch (default: %(default)s)")
    p.add_argument("--topk", type=int, default=3, help="how many classes to list per face (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    p.set_defaults(run=run, format="table")


def run(args: argparse.Namespace) -> int:
    from ..recognizer import load

    files, source_errors = expand_sources(args.paths)
    _check_outputs(args, files)
    recognizer = load(
        args.weights,
        detector=None if args.no_detect else args.detector,
        device=args.device,
        batch_size=args.batch_size,
        topk=args.topk,
        max_pixels=args.max_pixels,
    )
    records: list[FaceRecord] = [FaceRecord(file=e.source, error=e.reason) for e in source_errors]
    for e in source_errors:
        print(f"motivnet predict: {e}", file=sys.stderr)
    bar = tqdm(total=len(files), unit="img", file=sys.stderr, disable=args.no_progress or len(files) < PROGRESS_MIN_FILES or None)
    inputs = ((str(f), f) for f in files)
    for file, file_records in zip(files, recognizer.iter_predict(inputs)):
        bar.update()
        for r in file_records:
            if r.error:
                tqdm.write(f"motivnet predict: {r.file}: {r.error}", file=sys.stderr)
        if args.save_annotated and any(r.ok for r in file_records):
            _annotate(file, file_records, args.save_annotated, args.max_pixels)
        records += file_records
    bar.close()
    _emit(render(records, args.format, recognizer.labels), args.output, sys.stdout)
    failed = {r.file for r in records if not r.ok}
    if failed:
        print(f"motivnet predict: {len(failed)} of {len(files) + len(source_errors)} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _check_outputs(args: argparse.Namespace, files: list[Path]) -> None:
    """Refuse, before any work, outputs that would overwrite an input."""
    inputs = {f.resolve() for f in files}
    if args.output is not None and args.output.resolve() in inputs:
        raise ValueError(f"--output {args.output} is one of the inputs; refusing to overwrite it")
    if args.save_annotated is not None and args.save_annotated.exists() and not args.save_annotated.is_dir():
        raise ValueError(f"--save-annotated {args.save_annotated} exists and is not a folder")


def _annotate(file: Path, records: list[FaceRecord], out_dir: Path, max_pixels: int) -> None:
    try:
        image = decode_image(file, max_pixels)
    except ImageError:
        return  # already reported as this file's record
    out_dir.mkdir(parents=True, exist_ok=True)
    # Never overwrite: an existing file (an input, or an earlier result) keeps its name.
    target = unique_path(out_dir / f"{file.stem}.jpg")
    draw_records(image, records).save(target, quality=92)


def _emit(text: str, output: Path | None, stdout: TextIO) -> None:
    if output is None:
        stdout.write(text)
        return
    atomic_write(output, lambda tmp: Path(tmp).write_text(text))
    print(f"motivnet predict: wrote {output}", file=sys.stderr)
