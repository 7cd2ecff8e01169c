"""``motivnet predict PATH...``: emotion labels for every face in files, folders and globs."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, TextIO

import numpy as np
from tqdm import tqdm

from ..backends import BACKENDS
from ..bundled import bundled_models
from ..faces import NO_FACE_CHOICES
from ..fileio import atomic_write
from ..outputs import draw_records, render, unique_path
from ..preprocess import DEFAULT_MAX_PIXELS, ImageError, ImageLike, decode_image
from ..records import FaceRecord
from ..sources import expand_sources, is_video
from ..video import DEFAULT_FPS

if TYPE_CHECKING:
    from ..recognizer import EmotionRecognizer

# Below this many files a progress bar is noise.
PROGRESS_MIN_FILES = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "predict",
        help="label the emotion of every face in images",
        description="Detect faces, align them and label each one's emotion, in images, videos "
        "(sampled at --fps, faces tracked across frames) or a webcam.",
        epilog="Exit codes: 0 every input succeeded, 1 some inputs failed (each named on stderr "
        "and carried as a record with an 'error'), 2 usage or fatal error.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="image or video files (.mp4 .avi .mov .mkv .webm), folders (searched recursively), globs; "
                   "a bare number is a webcam (0 = the first camera)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json", help="print JSON records")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv", help="print CSV rows")
    p.add_argument("--output", "-o", type=Path, help="write the records to this file instead of stdout")
    p.add_argument("--save-annotated", type=Path, metavar="DIR", help="draw boxes and labels into copies in DIR")
    add_recognizer_options(p)
    p.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    video = p.add_argument_group("video and webcam (needs the video extra: pip install 'motivnet[video]')")
    video.add_argument("--fps", type=float, default=DEFAULT_FPS, help="frames per second to sample from videos; 0: every frame (default: %(default)s)")
    video.add_argument("--webcam", type=int, action="append", metavar="N", help="also read camera N (until Ctrl-C or --max-frames)")
    video.add_argument("--max-frames", type=int, metavar="N", help="stop each video or camera after N sampled frames")
    add_fast_path_options(p)
    p.set_defaults(run=run, format="table")


def add_recognizer_options(p: argparse.ArgumentParser) -> None:
    """The options that build the recognizer (``recognizer_from_args``), shared by predict and serve;
    the backend and fast-path switches are ``add_fast_path_options``."""
    names = ", ".join(bundled_models())  # read from the package, so a new bundled model needs no edit here
    p.add_argument("--weights", "-w", help=f"model folder, checkpoint, ensemble folder, bundled model name ({names}) or (with --backend onnx) .onnx file (default: the bundled default)")
    p.add_argument("--no-detect", action="store_true", help="classify whole images as they are, without detection and alignment (detecting scored higher even on face crops: MODEL_CARD.md)")
    p.add_argument("--detector", default="auto", help="face detector backend (default: %(default)s)")
    p.add_argument("--no-face", choices=NO_FACE_CHOICES, default="error",
                   help="an image in which no face is found: an error (default), or 'whole': classify the whole image "
                        "(for folders of small face crops; its det_score is empty). Video frames without a face are always skipped")
    p.add_argument("--batch-size", type=int, default=32, help="faces per model batch (default: %(default)s)")
    p.add_argument("--topk", type=int, default=3, help="how many classes to list per face (default: %(default)s)")
    p.add_argument("--device", default="cpu", help="torch device (default: %(default)s)")
    add_tta_options(p, "face")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (default: %(default)s)")


def recognizer_from_args(args: argparse.Namespace) -> "EmotionRecognizer":
    """The recognizer that ``add_recognizer_options`` and ``add_fast_path_options`` describe."""
    from ..recognizer import load

    return load(
        args.weights,
        detector=None if args.no_detect else args.detector,
        no_face=args.no_face,
        device=args.device,
        batch_size=args.batch_size,
        topk=args.topk,
        max_pixels=args.max_pixels,
        tta=args.tta,
        backend=args.backend,
        bf16=args.bf16,
        int8=args.int8,
        compile=args.compile,
        threads=args.threads,
    )


def add_tta_options(p: argparse.ArgumentParser, what: str) -> None:
    """--tta PRESET and its older spelling --tta-flip (= --tta flip), shared by predict and evaluate."""
    from ..tta import PRESETS

    g = p.add_mutually_exclusive_group()
    g.add_argument("--tta", choices=list(PRESETS), default="none",
                   help=f"test-time augmentation: mean probabilities over views of each {what} (flip: with its mirror, "
                        "2 passes; crops: centred crops 1/0.95/0.9/0.85, 4; crops+flip: 8) (default: %(default)s)")
    g.add_argument("--tta-flip", dest="tta", action="store_const", const="flip", help="the same as --tta flip")


def add_fast_path_options(p: argparse.ArgumentParser) -> None:
    """--backend and the CPU fast-path switches, shared by predict and benchmark."""
    g = p.add_argument_group("inference backend and CPU fast path")
    g.add_argument("--backend", choices=BACKENDS, default="torch", help="run the classifier with torch or onnxruntime (default: %(default)s)")
    g.add_argument("--bf16", action="store_true", help="run a bfloat16 copy of the model (fast only on CPUs with AVX512_BF16/AMX; torch backend)")
    g.add_argument("--int8", action="store_true", help="dynamic int8 quantisation of the Linear (torch) or MatMul (onnx) layers")
    g.add_argument("--compile", action="store_true", help="torch.compile the model (first batch takes about a minute; torch backend)")
    g.add_argument("--threads", type=int, metavar="N", help="compute threads (default: torch's / onnxruntime's own)")


def run(args: argparse.Namespace) -> int:
    from ..video import webcam_index

    cameras = list(args.webcam or [])
    paths = []
    for arg in args.paths:
        index = webcam_index(arg)
        (cameras if index is not None else paths).append(index if index is not None else arg)
    if not paths and not cameras:
        raise ValueError("nothing to do: give image or video PATHs, or a camera (a number, or --webcam N)")
    files, source_errors = expand_sources(paths) if paths else ([], [])
    _check_outputs(args, files)
    videos = [f for f in files if is_video(f)]
    files = [f for f in files if not is_video(f)]  # images first, then videos, each in argument order
    recognizer = recognizer_from_args(args)
    detecting = recognizer.detector is not None
    records: list[FaceRecord] = [FaceRecord(file=e.source, error=e.reason) for e in source_errors]
    for e in source_errors:
        print(f"motivnet predict: {e}", file=sys.stderr)
    total = len(files) + len(videos)
    bar = tqdm(total=total, unit="file", file=sys.stderr, disable=args.no_progress or total < PROGRESS_MIN_FILES or None)
    decoded: dict[str, np.ndarray] = {}  # kept for --save-annotated, so each image is decoded once
    inputs = _inputs(files, decoded if args.save_annotated else None, args.max_pixels)
    for file, file_records in zip(files, recognizer.iter_predict(inputs)):
        bar.update()
        for r in file_records:
            if r.error:
                tqdm.write(f"motivnet predict: {r.file}: {r.error}", file=sys.stderr)
            elif detecting and r.det_score is None:  # --no-face whole: say so, the label is not of a found face
                tqdm.write(f"motivnet predict: {r.file}: no face found, classified the whole image", file=sys.stderr)
        image = decoded.pop(str(file), None)
        if image is not None and any(r.ok for r in file_records):
            _annotate(file, image, file_records, args.save_annotated)
        records += file_records
    for source in [*videos, *cameras]:
        video_records = _run_video(recognizer, source, args)
        bar.update()
        for r in video_records:
            if r.error:
                tqdm.write(f"motivnet predict: {r.file}: {r.error}", file=sys.stderr)
        records += video_records
    bar.close()
    _emit(render(records, args.format, recognizer.labels), args.output, sys.stdout)
    failed = {r.file for r in records if not r.ok}
    if failed:
        n_inputs = total + len(cameras) + len(source_errors)
        print(f"motivnet predict: {len(failed)} of {n_inputs} inputs failed", file=sys.stderr)
    return 1 if failed else 0


def _run_video(recognizer: "EmotionRecognizer", source: Path | int, args: argparse.Namespace) -> list[FaceRecord]:
    """One video file or camera -> its per-frame records; a missing PyAV or camera is that input's error."""
    from ..video import MissingVideoBackendError, NoCameraError, predict_video

    name = f"camera{source}" if isinstance(source, int) else str(source)
    try:
        return predict_video(
            recognizer, source, fps=args.fps or None, detect=False if args.no_detect else None,
            save_annotated=args.save_annotated, max_frames=args.max_frames,
        )
    except (MissingVideoBackendError, NoCameraError) as e:
        return [FaceRecord(file=name, error=str(e))]


def _check_outputs(args: argparse.Namespace, files: list[Path]) -> None:
    """Refuse, before any work, outputs that would overwrite an input."""
    inputs = {f.resolve() for f in files}
    if args.output is not None and args.output.resolve() in inputs:
        raise ValueError(f"--output {args.output} is one of the inputs; refusing to overwrite it")
    if args.save_annotated is not None and args.save_annotated.exists() and not args.save_annotated.is_dir():
        raise ValueError(f"--save-annotated {args.save_annotated} exists and is not a folder")


def _inputs(files: list[Path], keep: dict[str, np.ndarray] | None, max_pixels: int) -> Iterator[tuple[str, ImageLike]]:
    """(name, image) pairs for the recognizer. With ``keep``, images are decoded here and kept
    for drawing; a file that fails is passed as its path so the recognizer reports the error."""
    for f in files:
        if keep is not None:
            try:
                keep[str(f)] = image = decode_image(f, max_pixels)
                yield str(f), image
                continue
            except ImageError:
                pass
        yield str(f), f


def _annotate(file: Path, image: np.ndarray, records: list[FaceRecord], out_dir: Path) -> None:
    """image: the decoded RGB uint8 (H, W, 3) input; writes a new file, never over an old one."""
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
