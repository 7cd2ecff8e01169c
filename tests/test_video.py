"""Video in `motivnet predict`: frame sampling at --fps, IoU face tracks, per-frame records,
annotated video, webcam errors, and the message when the video extra is missing."""
from __future__ import annotations

import csv
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from motivnet.cli import main
from motivnet.faces import Face, register_detector
from motivnet.sources import expand_sources
from motivnet.tracking import IoUTracker

try:
    import av  # noqa: F401

    HAVE_AV = True
except ImportError:
    HAVE_AV = False
needs_av = pytest.mark.skipif(not HAVE_AV, reason="PyAV (the video extra) is not installed")

FRAMES, SOURCE_FPS = 20, 10  # a 2-second clip


class SquaresDetector:
    """Every bright square (channel 0 > 100) is a face; listed right to left, so list order
    differs from track order and tracking must follow the boxes, not the positions in the list."""

    def detect(self, image: np.ndarray) -> list[Face]:
        faces = []
        mask = image[..., 0] > 100
        for x0, x1 in _runs(mask.any(axis=0)):
            rows = np.nonzero(mask[:, x0:x1].any(axis=1))[0]
            faces.append(Face((x0, rows.min(), x1, rows.max() + 1), 0.9))
        return faces[::-1]


def _runs(cols: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, cols.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2]))


register_detector("test-squares", lambda **kw: SquaresDetector(), overwrite=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Two squares on black, one moving right 2 px per frame, one still: 20 frames at 10 fps."""
    from motivnet.video import VideoWriter

    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with VideoWriter(path, SOURCE_FPS) as writer:
        for i in range(FRAMES):
            img = np.zeros((64, 96, 3), np.uint8)
            img[10:30, 4 + 2 * i : 24 + 2 * i] = 220
            img[40:60, 70:90] = 180
            writer.write(img)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@needs_av
def test_frames_sampled_at_fps_with_stable_tracks(capsys, weights, clip, tmp_path):
    out_dir = tmp_path / "annotated"
    code, out, err = run(capsys, "predict", str(clip), "--weights", str(weights), "--detector", "test-squares",
                         "--fps", "5", "--json", "--save-annotated", str(out_dir))
    assert code == 0, err
    records = json.loads(out)
    frames = sorted({r["frame"] for r in records})
    assert frames == list(range(0, FRAMES, SOURCE_FPS // 5))  # every 2nd frame: 5 of 10 per second
    assert sorted({r["time"] for r in records}) == pytest.approx([i / 5 for i in range(10)], abs=1e-3)
    by_track: dict[int, list[dict]] = {}
    for r in records:
        assert r["error"] is None and r["label"] and r["file"] == str(clip)
        by_track.setdefault(r["track"], []).append(r)
    assert len(by_track) == 2 and all(len(rs) == len(frames) for rs in by_track.values())  # 2 faces per frame
    moving = [rs for rs in by_track.values() if rs[0]["box"][0] != rs[-1]["box"][0]]
    assert len(moving) == 1  # one track holds the moving square in every frame
    xs = [r["box"][0] for r in sorted(moving[0], key=lambda r: r["frame"])]
    assert xs == sorted(xs) and xs[-1] - xs[0] == pytest.approx(36, abs=2)
    # The annotated copy: every sampled frame, readable, at the sampling rate.
    from motivnet.video import open_video, sample_frames

    written = out_dir / "clip.mp4"
    container = open_video(written)
    got = list(sample_frames(container, None))
    assert len(got) == len(frames) and got[0].rgb.shape == (64, 96, 3)
    assert float(container.streams.video[0].average_rate) == pytest.approx(5)
    container.close()
    # Never overwritten: a second run writes clip_1.mp4.
    before = written.read_bytes()
    assert run(capsys, "predict", str(clip), "--weights", str(weights), "--detector", "test-squares",
               "--max-frames", "2", "--save-annotated", str(out_dir))[0] == 0
    assert written.read_bytes() == before and (out_dir / "clip_1.mp4").is_file()


@needs_av
def test_csv_has_frame_time_track_columns(capsys, weights, clip):
    code, out, _ = run(capsys, "predict", str(clip), "--weights", str(weights), "--no-detect", "--csv", "--fps", "2")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [r["frame"] for r in rows] == ["0", "5", "10", "15"]
    assert {r["track"] for r in rows} == {"0"} and rows[1]["time"] == "0.5"


@needs_av
def test_images_keep_their_records_next_to_videos(capsys, weights, clip, tmp_path):
    from PIL import Image

    img = tmp_path / "still.png"
    Image.fromarray(np.full((20, 20, 3), 200, np.uint8)).save(img)
    code, out, _ = run(capsys, "predict", str(img), str(clip), "--weights", str(weights), "--no-detect", "--json", "--fps", "1")
    recs = json.loads(out)
    assert code == 0 and "frame" not in recs[0] and "track" not in recs[0]  # image records unchanged
    assert [r["frame"] for r in recs[1:]] == [0, 10]


@needs_av
def test_unreadable_video_is_one_error_record(capsys, weights, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    code, out, err = run(capsys, "predict", str(bad), "--weights", str(weights), "--json")
    recs = json.loads(out)
    assert code == 1 and len(recs) == 1 and "cannot read video" in recs[0]["error"]
    assert len([ln for ln in err.splitlines() if "broken.mp4" in ln]) == 1


@pytest.mark.skipif(Path("/dev/video0").exists(), reason="this machine has a camera")
def test_missing_webcam_is_a_clear_error(capsys, weights):
    code, out, err = run(capsys, "predict", "0", "--weights", str(weights), "--json")
    recs = json.loads(out)
    assert code == 1 and recs[0]["file"] == "camera0" and "/dev/video0 does not exist" in recs[0]["error"]


def test_missing_video_extra_names_it(capsys, weights, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av -> ImportError
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\0" * 64)
    code, out, _ = run(capsys, "predict", str(video), "--weights", str(weights), "--json")
    assert code == 1 and "motivnet[video]" in json.loads(out)[0]["error"]


def test_folders_list_videos(tmp_path):
    (tmp_path / "a.MP4").write_bytes(b"x")
    (tmp_path / "b.webm").write_bytes(b"x")
    (tmp_path / "notes.txt").write_text("x")
    files, errors = expand_sources([str(tmp_path)])
    assert [f.name for f in files] == ["a.MP4", "b.webm"] and not errors


def test_iou_tracker_keeps_ids_and_retires_lost_tracks():
    tracker = IoUTracker(min_iou=0.3, max_missed=1)
    assert tracker.update([(0, 0, 10, 10), (50, 50, 60, 60)]) == [0, 1]
    assert tracker.update([(52, 51, 62, 61), (1, 0, 11, 10)]) == [1, 0]  # order swapped, ids follow boxes
    assert tracker.update([(2, 0, 12, 10)]) == [0]  # track 1 missed once
    assert tracker.update([(3, 0, 13, 10)]) == [0]  # missed twice: retired
    assert tracker.update([(3, 0, 13, 10), (52, 51, 62, 61)]) == [0, 2]  # comes back as a new track
