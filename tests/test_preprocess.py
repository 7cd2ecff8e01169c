"""The one preprocessing path: decoding, modes, EXIF, resize policies, normalisation, bad input."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from motivnet.preprocess import SAPIENS_MEAN, SAPIENS_STD, ImageError, Preprocessor, decode_image, resize


def png_bytes(img: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    img.paste((0, 0, 255), (0, 0, 10, 20))  # blue on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    rgb = decode_image(png_bytes(img, "JPEG", exif=exif.tobytes(), quality=95))
    assert rgb.shape == (40, 20, 3)  # displayed portrait
    assert rgb[2, 10, 2] > 200 and rgb[-3, 10, 0] > 200  # the blue side is now on top


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "1", "YCbCr"])
def test_any_mode_becomes_rgb_uint8(mode):
    img = Image.new("RGB", (9, 7), (10, 120, 240)).convert(mode)
    rgb = decode_image(img)
    assert rgb.shape == (7, 9, 3) and rgb.dtype == np.uint8


def test_sixteen_bit_is_scaled_not_clipped():
    img = Image.fromarray(np.full((4, 4), 32768, np.uint16))
    assert img.mode.startswith("I;16")
    assert abs(int(decode_image(img)[0, 0, 0]) - 128) <= 1


def test_transparency_becomes_the_mean_colour():
    rgb = decode_image(Image.new("RGBA", (4, 4), (255, 0, 0, 0)))
    assert tuple(rgb[0, 0]) == tuple(round(v) for v in SAPIENS_MEAN)
    pal = Image.new("P", (4, 4), 0)
    pal.info["transparency"] = 0
    assert tuple(decode_image(pal)[0, 0]) == tuple(round(v) for v in SAPIENS_MEAN)


def test_grey_array_and_tensor_inputs():
    grey = np.arange(48 * 48, dtype=np.uint8).reshape(48, 48)
    rgb = decode_image(grey)
    assert rgb.shape == (48, 48, 3) and (rgb[..., 0] == rgb[..., 2]).all()
    t = torch.from_numpy(rgb).permute(2, 0, 1).contiguous()
    assert np.array_equal(decode_image(t), rgb)
    with pytest.raises(ImageError, match="uint8"):
        decode_image(grey.astype(np.float32))


def test_stretch_fills_and_pad_keeps_aspect_with_mean_bars():
    wide = torch.full((3, 10, 40), 200.0)
    s = resize(wide, (32, 32), "stretch", SAPIENS_MEAN)
    assert s.shape == (3, 32, 32) and torch.allclose(s, torch.tensor(200.0))
    p = resize(wide, (32, 32), "pad", SAPIENS_MEAN)
    assert p.shape == (3, 32, 32)
    assert torch.allclose(p[:, 16, :], torch.tensor(200.0))  # content band in the middle
    assert torch.allclose(p[:, 0, 0], torch.tensor(SAPIENS_MEAN))  # bars: the mean colour
    with pytest.raises(ValueError, match="policy"):
        resize(wide, (32, 32), "crop", SAPIENS_MEAN)


def test_preprocessor_normalises_and_batches():
    pre = Preprocessor((32, 24), "pad")
    images = [np.full((50, 20, 3), 123, np.uint8), Image.new("L", (80, 80), 0)]
    batch = pre(images)
    assert batch.shape == (2, 3, 32, 24) and batch.dtype == torch.float32
    torch.testing.assert_close(batch[0], pre.tensor(images[0]))
    # Bars normalise to zero; black pixels to -mean/std.
    assert batch[0, :, 16, 0].abs().max() < 1e-6
    expected = -torch.tensor(SAPIENS_MEAN) / torch.tensor(SAPIENS_STD)
    torch.testing.assert_close(batch[1, :, 16, 12], expected)


def test_bad_files_get_one_line_errors(tmp_path):
    good = png_bytes(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG")
    cases = {
        "text.jpg": (b"hello, not an image", "not an image"),
        "empty.png": (b"", "empty file"),
        "cut.jpg": (good[: len(good) // 3], "truncated"),
    }
    for name, (data, reason) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageError) as err:
            decode_image(tmp_path / name)
        assert str(tmp_path / name) in str(err.value) and reason in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(ImageError, match="no such file"):
        decode_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageError, match="folder"):
        decode_image(tmp_path)


def test_pixel_cap_is_checked_before_decoding(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(path)
    loads = []
    monkeypatch.setattr(Image.Image, "load", lambda self: loads.append(1))
    with pytest.raises(ImageError, match="over the cap"):
        decode_image(path, max_pixels=50_000)
    assert not loads  # refused from the header, before any pixel was decoded


def test_crop_pct_keeps_the_centre_like_zoom_in_and_round_trips_in_config(tmp_path):
    from motivnet.data.augment import zoom_in
    from motivnet.models import MotivNet, MotivNetConfig

    rgb = np.zeros((20, 20, 3), np.uint8)
    rgb[:2] = 255  # a white band along the top edge: a 0.8 centre crop removes it
    cropped = Preprocessor((16, 16), crop_pct=0.8).tensor(rgb)
    torch.testing.assert_close(cropped, Preprocessor((16, 16)).tensor(zoom_in(rgb, 0.8)))
    black = -torch.tensor(SAPIENS_MEAN) / torch.tensor(SAPIENS_STD)
    torch.testing.assert_close(cropped[:, 0, 8], black)
    assert Preprocessor((16, 16)).tensor(rgb)[:, 0, 8].gt(black).all()  # whole image: the band is there
    enc = {"embed_dim": 32, "depth": 1, "num_heads": 2, "image_size": [16, 16]}
    from motivnet.models import SapiensConfig

    cfg = MotivNetConfig.build(SapiensConfig(**enc), labels="affectnet8", decoder_dim=16, crop_pct=0.85)
    MotivNet(cfg).save_pretrained(tmp_path / "m")
    loaded = MotivNet.from_pretrained(tmp_path / "m").config
    assert loaded.crop_pct == 0.85 and Preprocessor.from_config(loaded).crop_pct == 0.85
    with pytest.raises(ValueError, match="crop_pct"):
        MotivNetConfig.build(SapiensConfig(**enc), labels="affectnet8", decoder_dim=16, crop_pct=0.0)
