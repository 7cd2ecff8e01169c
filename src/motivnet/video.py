"""Video and webcam input: sample frames, label every face in them, track faces, draw an annotated copy.

Decoding and encoding use PyAV (the ``av`` package, whose wheels ship FFmpeg with libx264, so it
works offline), an optional extra: ``pip install 'motivnet[video]'``.

    rec = motivnet.load("runs/tiny/best")
    records = predict_video(rec, "clip.mp4", fps=5, save_annotated="out/")   # FaceRecords with frame/time/track
"""
from __future__ import annotations

import math
import os
import sys
from collections import deque
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

import numpy as np

from .outputs import draw_records, unique_path
from .records import FaceRecord
from .tracking import IoUTracker

if TYPE_CHECKING:
    from .recognizer import EmotionRecognizer

DEFAULT_FPS = 5.0
VIDEO_EXTRA_HINT = "video input needs PyAV: pip install 'motivnet[video]'"


class MissingVideoBackendError(ImportError):
    """PyAV is not installed; the message names the extra that installs it."""


class NoCameraError(OSError):
    """The requested webcam does not exist or cannot be opened."""


def require_av() -> Any:
    try:
        import av
    except ImportError:
        raise MissingVideoBackendError(VIDEO_EXTRA_HINT) from None
    return av


@dataclass
class Frame:
    """One decoded frame: its index in the source (0-based, decode order), its time in seconds
    from the first frame, and its pixels, RGB uint8 (H, W, 3)."""

    index: int
    time: float
    rgb: np.ndarray


def sample_frames(container: Any, fps: float | None = DEFAULT_FPS, max_frames: int | None = None) -> Iterator[Frame]:
    """Frames of an opened PyAV container's first video stream, at most ``fps`` per second
    (the first frame of each 1/fps interval); ``fps`` None or 0: every frame."""
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # frame-threaded decoding; the order of frames is unchanged
    rate = float(stream.average_rate) if stream.average_rate else 30.0
    first: float | None = None
    last_bucket, taken = -1, 0
    for i, frame in enumerate(container.decode(stream)):
        t = float(frame.time) if frame.time is not None else i / rate
        first = t if first is None else first
        t -= first
        if fps:
            bucket = math.floor(t * fps + 1e-6)  # 1e-6: a frame at exactly k/fps opens bucket k
            if bucket <= last_bucket:
                continue
            last_bucket = bucket
        yield Frame(i, t, frame.to_ndarray(format="rgb24"))
        taken += 1
        if max_frames is not None and taken >= max_frames:
            return


def source_fps(container: Any) -> float:
    rate = container.streams.video[0].average_rate
    return float(rate) if rate else 30.0


def open_video(path: str | os.PathLike) -> Any:
    av = require_av()
    container = av.open(str(path))
    if not container.streams.video:
        container.close()
        raise ValueError("no video stream in this file")
    return container


def webcam_index(arg: str) -> int | None:
    """``"0"`` -> 0 when no file of that name exists (``motivnet predict 0`` means camera 0)."""
    return int(arg) if arg.isdigit() and not Path(arg).exists() else None


def open_webcam(index: int) -> Any:
    """Open camera ``index`` (Linux: /dev/videoN through v4l2; macOS: avfoundation), or raise
    NoCameraError with one clear line."""
    av = require_av()
    if sys.platform.startswith("linux"):
        device = Path(f"/dev/video{index}")
        if not device.exists():
            found = sorted(str(p) for p in Path("/dev").glob("video*"))
            have = ", ".join(found) if found else "no camera at all (no /dev/video* device)"
            raise NoCameraError(f"{device} does not exist; this machine has {have}")
        target, fmt = str(device), "v4l2"
    elif sys.platform == "darwin":
        target, fmt = str(index), "avfoundation"
    else:
        raise NoCameraError(f"camera {index}: webcam input is supported on Linux (v4l2) and macOS only")
    try:
        return av.open(target, format=fmt)
    except Exception as e:  # a device that exists but cannot stream (busy, no permission)
        raise NoCameraError(f"camera {index}: cannot open {target} ({type(e).__name__}: {e})") from None


class VideoWriter:
    """Encode RGB frames (H, W, 3) uint8 into an H.264 (libx264, else MPEG-4) video at ``fps``.
    Odd sizes are padded by one edge pixel (yuv420p needs even width and height)."""

    def __init__(self, path: str | os.PathLike, fps: float) -> None:
        self._av = require_av()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = Fraction(fps).limit_denominator(1001)
        self.container = self._av.open(str(self.path), "w")
        self.stream: Any = None
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        h, w = rgb.shape[:2]
        if h % 2 or w % 2:
            rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
        if self.stream is None:
            codec = "libx264" if "libx264" in self._av.codecs_available else "mpeg4"
            self.stream = self.container.add_stream(codec, rate=self.fps)
            self.stream.width, self.stream.height = rgb.shape[1], rgb.shape[0]
            self.stream.pix_fmt = "yuv420p"
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        self.container.mux(self.stream.encode(frame))
        self.frames += 1

    def close(self) -> None:
        if self.stream is not None:
            self.container.mux(self.stream.encode(None))  # flush delayed frames
        self.container.close()
        if self.stream is None:  # nothing was written: leave no empty, unplayable file behind
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def iter_video_records(
    recognizer: "EmotionRecognizer",
    frames: Iterable[Frame],
    name: str,
    detect: bool | None = None,
    tracker: IoUTracker | None = None,
) -> Iterator[tuple[Frame, list[FaceRecord]]]:
    """Each sampled frame with its records (classified in the recognizer's batches). Records get
    ``frame``, ``time`` and a ``track`` id; frames without a face give no record."""
    from .recognizer import NO_FACE

    tracker = tracker or IoUTracker()
    pending: deque[Frame] = deque()

    def inputs() -> Iterator[tuple[str, np.ndarray]]:
        for f in frames:
            pending.append(f)  # kept until its records come back, to draw on it
            yield name, f.rgb

    # A frame without a face is skipped, never classified whole, whatever the recognizer's no_face.
    for records in recognizer.iter_predict(inputs(), detect, no_face="error"):
        frame = pending.popleft()
        records = [r for r in records if r.error != NO_FACE]
        found = [r for r in records if r.ok]
        for r, track in zip(found, tracker.update([r.box for r in found])):  # type: ignore[misc]
            r.track = track
        for r in records:
            r.frame, r.time = frame.index, round(frame.time, 3)
        yield frame, records


def predict_video(
    recognizer: "EmotionRecognizer",
    source: str | os.PathLike | int,
    fps: float | None = DEFAULT_FPS,
    detect: bool | None = None,
    save_annotated: str | os.PathLike | None = None,
    max_frames: int | None = None,
) -> list[FaceRecord]:
    """Label every face in a video file (or camera ``int``) at ``fps`` sampled frames per second.

    Returns the records of every face in every sampled frame; a file that cannot be decoded, or in
    which no frame has a face, gives one record with ``error`` set. ``save_annotated``: a folder
    that receives ``<stem>.mp4`` (``<stem>_1.mp4``... if taken) with boxes and labels drawn on the
    sampled frames, played at the sampling rate. A webcam stops at ``max_frames`` or Ctrl-C.
    """
    name = f"camera{source}" if isinstance(source, int) else str(source)
    try:
        container = open_webcam(source) if isinstance(source, int) else open_video(source)
    except (MissingVideoBackendError, NoCameraError):
        raise
    except Exception as e:  # not a video, corrupt header: one error record, like a bad image
        return [FaceRecord(file=name, error=f"cannot read video ({_reason(e)})")]
    writer = None
    if save_annotated is not None:
        stem = f"camera{source}" if isinstance(source, int) else Path(source).stem
        out_fps = fps or source_fps(container)
        writer = VideoWriter(unique_path(Path(save_annotated) / f"{stem}.mp4"), out_fps)
    records: list[FaceRecord] = []
    sampled = 0
    try:
        for frame, frame_records in iter_video_records(recognizer, sample_frames(container, fps, max_frames), name, detect):
            sampled += 1
            records += frame_records
            if writer is not None:
                writer.write(np.asarray(draw_records(frame.rgb, frame_records)))
    except KeyboardInterrupt:
        if not isinstance(source, int):
            raise
        # A webcam runs until interrupted: keep what was recorded.
    except Exception as e:
        records.append(FaceRecord(file=name, error=f"video decoding failed after {sampled} sampled frames ({_reason(e)})"))
    finally:
        container.close()
        if writer is not None:
            writer.close()
    if sampled == 0 and not records:
        records.append(FaceRecord(file=name, error="no frames could be decoded"))
    elif not any(r.ok for r in records) and not any(r.error for r in records):
        records.append(FaceRecord(file=name, error=f"no face found in {sampled} sampled frames"))
    return records


def _reason(e: Exception) -> str:
    return f"{type(e).__name__}: {e}".strip()


__all__ = [
    "DEFAULT_FPS",
    "Frame",
    "MissingVideoBackendError",
    "NoCameraError",
    "VideoWriter",
    "iter_video_records",
    "open_video",
    "open_webcam",
    "predict_video",
    "require_av",
    "sample_frames",
    "webcam_index",
]
