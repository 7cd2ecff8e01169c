"""Dataset formats, bad-entry policy, augmentation and the paper's data selection.

Every image is generated into tmp_path; nothing here needs /work/shared.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from motivnet.data import (
    DataError,
    EmotionDataset,
    balanced_sample,
    build_augment,
    build_dataset,
    detect_format,
    load_manifest,
    open_dataset,
    save_manifest,
    select,
    split_train_val,
)
from motivnet.labels import AFFECTNET7, AFFECTNET8, FER2013
from motivnet.preprocess import Preprocessor

PRE = Preprocessor((32, 32))


def write_image(path: Path, size=(40, 30), colour=(200, 30, 30), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


# -- class folders --------------------------------------------------------------------------
def make_folders(root: Path, per_class: dict[str, int]) -> Path:
    for name, n in per_class.items():
        for i in range(n):
            write_image(root / name / f"{i:03d}.png", colour=(10 * i % 255, 50, 90))
    return root


def test_folders_aliases_tensors_and_labels(tmp_path):
    root = make_folders(tmp_path / "faces", {"angry": 2, "happiness": 3, "neutral": 1, "contempt": 1})
    ds = open_dataset(root, preprocessor=PRE)
    assert ds.labels == AFFECTNET8
    assert ds.class_counts() == {"neutral": 1, "happy": 3, "sad": 0, "surprise": 0, "fear": 0,
                                 "disgust": 0, "anger": 2, "contempt": 1}
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert ds.labels.classes[y] == "anger" and ds.meta(0)["id"] == "angry/000.png"
    # The tensor is exactly the Preprocessor's output for the file: one preprocessing path.
    torch.testing.assert_close(x, PRE.tensor(root / "angry" / "000.png"))
    # Conversion to a smaller set drops (and counts) the missing class.
    ds7 = ds.with_labels(AFFECTNET7)
    assert len(ds7) == 6 and ds7.excluded == {"contempt": 1}
    assert [ds7.labels.classes[t] for t in ds7.targets].count("happy") == 3


def test_folders_accept_every_image_type_predict_accepts(tmp_path):
    # One list of image suffixes for the package: a grey .pgm (or a .jfif) predict reads also trains.
    root = make_folders(tmp_path / "f", {"happy": 1})
    Image.new("L", (48, 48), 120).save(root / "happy" / "grey.pgm")
    write_image(root / "sad" / "a.jfif", fmt="JPEG")
    ds = open_dataset(root, preprocessor=PRE)
    assert sorted(ds.meta(i)["id"] for i in range(len(ds))) == ["happy/000.png", "happy/grey.pgm", "sad/a.jfif"]
    assert ds[1][0].shape == (3, 32, 32)  # the grey file decodes to three channels


def test_folders_unknown_label_and_non_image(tmp_path):
    root = make_folders(tmp_path / "f", {"happy": 2, "sad": 1})
    write_image(root / "bored" / "x.png")
    with pytest.raises(DataError, match="bored"):
        open_dataset(root, format="folders")
    ds = open_dataset(root, format="folders", skip_bad=True)
    assert len(ds) == 3 and len(ds.skipped) == 1 and "bored" in ds.skipped[0]
    (root / "sad" / "notes.txt").write_text("hi")
    (root / "bored" / "x.png").unlink()
    (root / "bored").rmdir()
    with pytest.raises(DataError, match="notes.txt"):
        open_dataset(root, format="folders")
    assert len(open_dataset(root, skip_bad=True).skipped) == 1


def test_split_subfolders_and_corrupt_image_named(tmp_path):
    make_folders(tmp_path / "d" / "train", {"happy": 1, "sad": 1})
    make_folders(tmp_path / "d" / "val", {"happy": 1})
    assert len(open_dataset(tmp_path / "d", split="train")) == 2
    assert len(open_dataset(tmp_path / "d", split="val")) == 1
    bad = tmp_path / "d" / "val" / "happy" / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    ds = open_dataset(tmp_path / "d", split="val", preprocessor=PRE)
    i = ds.ids.index("happy/broken.jpg")
    with pytest.raises(ValueError, match="broken.jpg"):
        ds[i]


# -- AffectNet official csv -----------------------------------------------------------------
AFF_HEADER = ["subDirectory_filePath", "face_x", "face_y", "face_width", "face_height",
              "facial_landmarks", "expression", "valence", "arousal"]


def make_affectnet(root: Path, rows: list[list]) -> Path:
    for r in rows:
        f = root / "Manually_Annotated_Images" / str(r[0])
        if not f.exists() and not str(r[0]).startswith("missing"):
            img = np.zeros((60, 80, 3), np.uint8)
            img[10:40, 20:50] = 255  # the face box region is white
            write_image(f).unlink()
            Image.fromarray(img).save(f)
    with open(root / "training.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(AFF_HEADER)
        w.writerows(rows)
    return root


def test_affectnet_crop_drop_and_metadata(tmp_path):
    rows = [
        ["1/a.jpg", 20, 10, 30, 30, "1;2;3", 1, 0.5, -0.25],   # happy
        ["1/b.png", 20, 10, 30, 30, "1;2", 7, 0.1, 0.2],        # contempt
        ["2/c.png", 0, 0, 80, 60, "", 9, -2, -2],               # uncertain: dropped
        ["2/d.png", 0, 0, 80, 60, "", 10, -2, -2],              # non-face: dropped
    ]
    root = make_affectnet(tmp_path / "an", rows)
    assert detect_format(root)[0] == "affectnet"
    ds = open_dataset(root, split="train", preprocessor=PRE)
    assert len(ds) == 2 and ds.excluded == {"uncertain": 1, "non-face": 1}
    assert ds.meta(0)["valence"] == 0.5 and ds.meta(0)["arousal"] == -0.25
    rgb = ds.load_rgb(1)
    assert rgb.shape == (30, 30, 3) and rgb.min() == 255  # cropped to the face box
    ds7 = open_dataset(root / "training.csv", labels="affectnet7")
    assert len(ds7) == 1 and ds7.excluded["contempt"] == 1


def test_affectnet_bad_rows_named_or_counted(tmp_path):
    rows = [
        ["1/a.png", 20, 10, 30, 30, "", 1, 0.5, 0.5],
        ["1/b.png", "x", 10, 30, 30, "", 1, 0.5, 0.5],      # line 3: malformed
        ["missing.png", 0, 0, 10, 10, "", 2, 0, 0],          # line 4: missing file
        ["1/a.png", 0, 0, 10, 10, "", 42, 0, 0],             # line 5: unknown expression
    ]
    root = make_affectnet(tmp_path / "an", rows)
    with pytest.raises(DataError, match=r"training\.csv:3: malformed"):
        open_dataset(root, split="train")
    ds = open_dataset(root, split="train", skip_bad=True)
    assert len(ds) == 1 and len(ds.skipped) == 3
    assert any(":4: image file" in m for m in ds.skipped) and any(":5: unknown expression" in m for m in ds.skipped)


# -- authors' JSON --------------------------------------------------------------------------
def test_json_labels(tmp_path):
    for n in ("a.png", "b.png", "c.png"):
        write_image(tmp_path / "imgs" / n)
    spec = tmp_path / "labels.json"
    spec.write_text(json.dumps({"0": ["a.png"], "1": ["b.png", "c.png"]}))
    ds = open_dataset(spec, images=tmp_path / "imgs", preprocessor=PRE)
    assert [ds.labels.classes[t] for t in ds.targets] == ["neutral", "happy", "happy"]
    assert ds[2][0].shape == (3, 32, 32)
    spec.write_text(json.dumps({"1": ["b.png", "gone.png"], "99": ["a.png"]}))
    with pytest.raises(DataError, match="gone.png"):
        open_dataset(spec, images=tmp_path / "imgs")
    ds = open_dataset(spec, images=tmp_path / "imgs", skip_bad=True)
    assert len(ds) == 1 and len(ds.skipped) == 2


# -- FER2013 csv ----------------------------------------------------------------------------
def test_fer2013_csv(tmp_path):
    f = tmp_path / "fer2013.csv"
    px = " ".join(str(i % 256) for i in range(48 * 48))
    with open(f, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["emotion", "pixels", "Usage"])
        w.writerow([3, px, "Training"])
        w.writerow([0, px, "PublicTest"])
        w.writerow([6, "1 2 3", "PublicTest"])  # line 4: too few pixels
    with pytest.raises(DataError, match=r"fer2013\.csv:4"):
        open_dataset(f)
    ds = open_dataset(tmp_path, split="val", skip_bad=True, preprocessor=PRE)
    assert len(ds) == 1 and ds.labels == FER2013 and ds.targets == [0] and len(ds.skipped) == 1
    rgb = ds.load_rgb(0)
    assert rgb.shape == (48, 48, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    # FER2013 ids -> AffectNet ids by name.
    conv = open_dataset(f, split="train").with_labels(AFFECTNET8)
    assert conv.labels.classes[conv.targets[0]] == "happy"


# -- YOLO re-distribution -------------------------------------------------------------------
def test_yolo_layout(tmp_path):
    root = tmp_path / "yolo"
    names = ["Anger", "Contempt", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"]
    (root).mkdir()
    (root / "data.yaml").write_text("train: train/images\nval: valid/images\nnc: 8\nnames: " + json.dumps(names) + "\n")
    write_image(root / "train/images/x.jpg", size=(96, 96))
    write_image(root / "train/images/y.jpg", size=(96, 96))
    (root / "train/labels").mkdir(parents=True)
    (root / "train/labels/x.txt").write_text("4 0.5 0.5 1 1\n")
    (root / "train/labels/y.txt").write_text("0 0.25 0.25 0.5 0.5\n")
    assert detect_format(root)[0] == "yolo"
    ds = open_dataset(root, split="train", preprocessor=PRE)
    assert [ds.labels.classes[t] for t in ds.targets] == ["happy", "anger"]
    assert ds.load_rgb(0).shape == (96, 96, 3) and ds.load_rgb(1).shape == (48, 48, 3)
    (root / "train/labels/y.txt").write_text("12 0.5 0.5 1 1\n")
    with pytest.raises(DataError, match=r"y\.txt:1: class id 12"):
        open_dataset(root, split="train")
    assert len(open_dataset(root, split="train", skip_bad=True)) == 1


def test_build_dataset_spec(tmp_path):
    root = make_folders(tmp_path / "f", {"sad": 2})
    ds = build_dataset({"path": str(root), "format": "auto", "labels": "affectnet7"}, preprocessor=PRE)
    assert isinstance(ds, EmotionDataset) and ds.labels == AFFECTNET7 and len(ds) == 2
    with pytest.raises(ValueError, match="cannot detect"):
        open_dataset(tmp_path / "f" / "sad")


# -- augmentation ---------------------------------------------------------------------------
def test_augment_is_seeded_and_before_preprocessor(tmp_path):
    rng = np.random.default_rng(0)
    f = tmp_path / "happy" / "a.png"
    f.parent.mkdir()
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(f)
    seen = []

    def spy(rgb, g):  # augment sees the decoded uint8 array, before normalisation
        seen.append((rgb.dtype, rgb.shape))
        return build_augment(True)(rgb, g)

    ds = open_dataset(tmp_path, preprocessor=PRE, augment=spy, seed=3)
    a, b = ds[0][0], ds[0][0]
    assert seen[0] == (np.uint8, (40, 40, 3))
    torch.testing.assert_close(a, b)  # same (seed, epoch, index) -> same image
    outs = []
    for e in range(4):
        ds.set_epoch(e)
        outs.append(ds[0][0])
    assert any(not torch.equal(outs[0], o) for o in outs[1:])  # epochs differ
    assert ds.with_transform(augment=None)[0][0].shape == (3, 32, 32)
    g = torch.Generator().manual_seed(0)
    grey = build_augment({"greyscale": 1.0, "crop": 0, "hflip": 0})(np.full((8, 8, 3), (200, 10, 10), np.uint8), g)
    assert (grey[..., 0] == grey[..., 1]).all()
    with pytest.raises(ValueError, match="unknown augmentation"):
        build_augment({"shear": 5})


def test_augment_rotate_and_low_resolution():
    # A sharp vertical edge: the round trip through 8 px must blur it; a rotation must tilt it.
    img = np.zeros((64, 64, 3), np.uint8)
    img[:, 32:] = 255
    lowres = build_augment({"crop": 0, "hflip": 0, "brightness": 0, "contrast": 0, "saturation": 0,
                            "lowres": 1.0, "lowres_side": (8, 8)})
    out = lowres(img, torch.Generator().manual_seed(0))
    assert out.shape == img.shape and out.dtype == np.uint8
    assert len(np.unique(out[32, :, 0])) > 2  # intermediate greys appear along the edge
    rot = build_augment({"crop": 0, "hflip": 0, "brightness": 0, "contrast": 0, "saturation": 0, "rotate": 20})
    tilted = [rot(img, torch.Generator().manual_seed(s)) for s in range(3)]
    for t in tilted:
        assert t.shape == img.shape
        assert not np.array_equal(t[2, :, 0], t[61, :, 0])  # the edge no longer runs straight down
    assert not np.array_equal(tilted[0], tilted[1])  # the angle is drawn per sample


def test_augment_zoom_out_pads_with_edges():
    img = np.zeros((40, 40, 3), np.uint8)
    img[:, :20] = 200  # left half light, right half dark
    zoom = build_augment({"crop": 0, "hflip": 0, "brightness": 0, "contrast": 0, "saturation": 0,
                          "zoom_out": 1.0, "zoom_out_scale": (1.5, 1.5)})
    out = zoom(img, torch.Generator().manual_seed(0))
    assert out.shape == (60, 60, 3)
    assert np.array_equal(out[10:50, 10:50], img)  # the original sits in the middle, untouched
    assert (out[:, :10] == 200).all() and (out[:, 50:] == 0).all()  # each side repeats its edge
    off = build_augment({"crop": 0, "hflip": 0, "brightness": 0, "contrast": 0, "saturation": 0})
    assert off(img, torch.Generator().manual_seed(0)).shape == img.shape


def test_augment_zoom_in_crops_near_the_centre():
    img = np.arange(100 * 100 * 3, dtype=np.int64).reshape(100, 100, 3) % 251
    img = img.astype(np.uint8)
    plain = {"crop": 0, "hflip": 0, "brightness": 0, "contrast": 0, "saturation": 0}
    centred = build_augment({**plain, "zoom_in": 1.0, "zoom_in_scale": (0.6, 0.6)})
    for seed in range(5):
        out = centred(img, torch.Generator().manual_seed(seed))
        assert out.shape == (60, 60, 3)
        # the shift is at most half the free margin (20 px a side), so the centre stays inside
        ys, xs = np.nonzero((img[..., 0] == out[0, 0, 0]) & (img[..., 1] == out[0, 0, 1]))
        assert any(10 <= y <= 30 and 10 <= x <= 30 and np.array_equal(img[y:y + 60, x:x + 60], out)
                   for y, x in zip(ys, xs))
    from motivnet.data.augment import zoom_in
    assert np.array_equal(zoom_in(img, 0.6), img[20:80, 20:80])  # no shift: the exact centre
    assert np.array_equal(zoom_in(img, 0.6, 1.0, -1.0), img[10:70, 30:90])  # shifted by half the margin


def test_new_augment_options_keep_old_samples():
    # Options added later draw after the original ones: turning one on does not move the crop,
    # flip or jitter an old config draws for the same (seed, epoch, index).
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
    old = {"crop_scale": (0.3, 1.0), "greyscale": 0.5}
    for seed in range(5):
        a = build_augment(old)(img, torch.Generator().manual_seed(seed))
        b = build_augment({**old, "rotate": 1e-3})(img, torch.Generator().manual_seed(seed))
        assert a.shape == b.shape
        c = build_augment({**old, "zoom_out": 1.0, "zoom_out_scale": (1.0, 1.0)})(img, torch.Generator().manual_seed(seed))
        assert np.array_equal(a, c)  # a zoom-out of 1 adds nothing and moves no other draw
        d = build_augment({**old, "zoom_in": 1.0, "zoom_in_scale": (1.0, 1.0)})(img, torch.Generator().manual_seed(seed))
        assert np.array_equal(a, d)  # nor does a zoom-in to the whole image
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 1.0  # a 0.001-degree turn, same window


# -- selection ------------------------------------------------------------------------------
def test_balanced_sample_and_split_reproducible():
    targets = [0] * 50 + [1] * 20 + [2] * 35
    a = balanced_sample(targets, seed=1)
    assert a == balanced_sample(targets, seed=1) and a != balanced_sample(targets, seed=2)
    counts = np.bincount([targets[i] for i in a])
    assert counts.tolist() == [20, 20, 20] and len(set(a)) == 60  # n = smallest class, no repeats
    assert np.bincount([targets[i] for i in balanced_sample(targets, n=5)]).tolist() == [5, 5, 5]
    with pytest.raises(ValueError, match="at most 20"):
        balanced_sample(targets, n=21)
    tr, va = split_train_val(targets, a, 0.1, seed=1)
    assert (tr, va) == split_train_val(targets, a, 0.1, seed=1)
    assert len(va) == 6 and len(tr) == 54 and not set(tr) & set(va) and set(tr) | set(va) == set(a)
    assert np.bincount([targets[i] for i in va]).tolist() == [2, 2, 2]


def test_manifest_round_trip(tmp_path):
    root = make_folders(tmp_path / "f", {"happy": 12, "sad": 10, "fear": 15})
    ds = open_dataset(root, labels=["happy", "sad", "fear"])
    split = select(ds, n="min", val_fraction=0.1, seed=5)
    assert split.n == 10 and len(split.train) == 27 and len(split.val) == 3
    path = save_manifest(split, tmp_path / "run" / "split.json")
    again = load_manifest(path)
    assert again.train == split.train and again.seed == 5 and again.n == 10
    # Re-opening the data (any order) and applying the manifest gives the same samples.
    tr, va = again.apply(open_dataset(root, labels=["happy", "sad", "fear"]))
    assert tr.ids == [i for i, _ in split.train] and len(va) == 3
    assert select(ds, n="min", seed=6).train != split.train


# -- CK+ and JAFFE as distributed -----------------------------------------------------------
def make_ckplus(root: Path) -> Path:
    """S005/001: 3 frames, disgust (3); S010/002: 2 frames, happy (5); S011/001: no emotion file."""
    for seq, frames, code in [("S005/001", 3, "3.0000000e+00"), ("S010/002", 2, "5.0000000e+00"), ("S011/001", 2, None)]:
        subject, take = seq.split("/")
        for f in range(1, frames + 1):
            write_image(root / "cohn-kanade-images" / seq / f"{subject}_{take}_{f:08d}.png", colour=(f * 40, 40, 40))
        if code is not None:
            (root / "Emotion" / seq).mkdir(parents=True)
            (root / "Emotion" / seq / f"{subject}_{take}_{frames:08d}_emotion.txt").write_text(f"   {code}\n")
    return root


def test_ckplus_peak_frames_neutral_and_bad_codes(tmp_path):
    root = make_ckplus(tmp_path / "CK+")
    assert detect_format(root) == ("ckplus", root)
    ds = open_dataset(root, preprocessor=PRE)
    assert ds.labels.classes == ("anger", "contempt", "disgust", "fear", "happy", "sad", "surprise")  # no neutral
    assert ds.ids == ["cohn-kanade-images/S005/001/S005_001_00000003.png", "cohn-kanade-images/S010/002/S010_002_00000002.png"]
    assert [ds.labels.classes[t] for t in ds.targets] == ["disgust", "happy"]
    assert ds.excluded == {"sequence without an emotion label": 1}
    ds = open_dataset(root, neutral_first=True)
    assert ds.labels.classes[0] == "neutral" and len(ds.labels) == 8
    assert [(Path(i).name, ds.labels.classes[t]) for i, t in zip(ds.ids, ds.targets)] == [
        ("S005_001_00000001.png", "neutral"), ("S005_001_00000003.png", "disgust"),
        ("S010_002_00000001.png", "neutral"), ("S010_002_00000002.png", "happy")]
    ds = open_dataset(root, peak_frames=2, neutral_first=True, skip_bad=True)  # S010/002 has 2 frames: too few
    assert [Path(i).name for i in ds.ids] == ["S005_001_00000001.png", "S005_001_00000002.png", "S005_001_00000003.png"]
    assert "S010/002: 2 frames, too few for 2 peak frame(s) and a neutral first frame" in ds.skipped[0]
    (root / "Emotion" / "S010" / "002" / "S010_002_00000002_emotion.txt").write_text("9.0\n")
    with pytest.raises(DataError, match="S010_002_00000002_emotion.txt: emotion code 9.0 is not one of 1-7"):
        open_dataset(root)
    assert len(open_dataset(root, skip_bad=True)) == 1


def test_jaffe_names_carry_the_labels(tmp_path):
    root = tmp_path / "jaffe"
    for name in ["KA.AN1.39.tiff", "KL.HA2.30.tiff", "YM.NE3.51.tiff", "TM.SU1.2.tiff"]:
        write_image(root / name, size=(64, 64), fmt="TIFF")
    (root / "README_FIRST.txt").write_text("ratings")  # not an image: ignored
    assert detect_format(root) == ("jaffe", root)
    ds = open_dataset(root, preprocessor=PRE)
    assert [(i, ds.labels.classes[t]) for i, t in zip(ds.ids, ds.targets)] == [
        ("KA.AN1.39.tiff", "anger"), ("KL.HA2.30.tiff", "happy"), ("TM.SU1.2.tiff", "surprise"), ("YM.NE3.51.tiff", "neutral")]
    assert ds.meta(0)["poser"] == "KA" and ds[0][0].shape == (3, 32, 32)
    write_image(root / "holiday.tiff", fmt="TIFF")
    with pytest.raises(DataError, match="holiday.tiff: not a JAFFE file name"):
        open_dataset(root)
    assert len(open_dataset(root, skip_bad=True)) == 4
