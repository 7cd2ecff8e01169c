"""Checkpoint import: every source layout, safe loading, and one clear error per bad checkpoint.

The authors' checkpoint is produced by a reference re-implementation written here from plain
torch ops (encoder) and the public ML-Decoder code (decoder), so the importer is checked against
independent numerics, not against our own modules.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from itertools import chain
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from motivnet import checkpoints
from motivnet.checkpoints import convert, detect_kind, import_checkpoint, load_checkpoint, read_checkpoint, remap
from motivnet.labels import AFFECTNET7, AFFECTNET8
from motivnet.models.ml_decoder import MLDecoder
from motivnet.models.motivnet import MotivNet, load_state_dict_strict
from motivnet.models.sapiens import SapiensConfig, SapiensViT, resize_pos_embed
from motivnet.reference.authors import RefMotivNet as AuthorsModel

DIM, DEPTH, HEADS = 32, 2, 2  # tiny encoder
DEC_DIM, DEC_FFN, DEC_LAYERS = 64, 128, 2  # tiny decoder, 8 heads as the authors'
IMAGE = (64, 48)  # a 4x3 patch grid: the 4:3 shape of Sapiens' 1024x768
TINY = dict(num_heads=HEADS)  # the tiny encoder is no registry size: name its heads


def RefMotivNet(num_classes: int = 7, groups: int = 7) -> AuthorsModel:  # noqa: N802 - reads like the class
    """The authors' model at tiny size (motivnet.reference: independent of motivnet.models)."""
    return AuthorsModel(DIM, DEPTH, HEADS, (IMAGE[0] // 16, IMAGE[1] // 16), num_classes, groups, DEC_DIM, DEC_FFN, DEC_LAYERS)


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter and buffer random (norm weights near 1), so no mapping error can hide."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in module.state_dict(keep_vars=True).items():
            noise = torch.randn(t.shape, generator=gen)
            is_norm_weight = name.endswith("weight") and ("norm" in name or ".ln" in name or name.startswith("ln"))
            t.copy_(1 + 0.1 * noise if is_norm_weight else 0.1 * noise)
    return module.eval()


def authors_checkpoint(tmp_path: Path, groups: int = 7, attn_name: str = "self_attn") -> tuple[AuthorsModel, Path]:
    ref = randomise(RefMotivNet(groups=groups))
    path = tmp_path / "MotivNet.pth"
    # attn_name="multihead_attn": the upstream spelling, as an older checkpoint would have it
    torch.save({k.replace(".self_attn.", f".{attn_name}."): v for k, v in ref.state_dict().items()}, path)
    return ref, path


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randn(2, 3, *IMAGE, generator=torch.Generator().manual_seed(1))


def tiny_backbone(image_size: tuple[int, int] = IMAGE) -> SapiensViT:
    torch.manual_seed(0)
    return randomise(SapiensViT(SapiensConfig(embed_dim=DIM, depth=DEPTH, num_heads=HEADS, image_size=image_size)))


FRESH = dict(decoder_dim=DEC_DIM, decoder_ffn=DEC_FFN, **TINY)  # keep freshly initialised decoders tiny


# --- (a) the authors' MotivNet.pth ----------------------------------------------------------------------


def test_reference_has_the_authors_key_layout(tmp_path: Path) -> None:
    ref, _ = authors_checkpoint(tmp_path)
    keys = set(ref.state_dict())
    for k in (
        "pose_encoder.projection.weight", "pose_encoder.pos_embed", "pose_encoder.layers.1.ffn.layers.0.0.bias",
        "pose_encoder.ln1.weight", "decoder.decoder.embed_standart.weight", "decoder.decoder.query_embed.weight",
        "decoder.decoder.layers.0.self_attn.in_proj_weight", "decoder.decoder.layers.1.norm3.bias",
        "decoder.decoder.duplicate_pooling", "decoder.decoder.duplicate_pooling_bias",
    ):
        assert k in keys
    assert detect_kind(ref.state_dict()) == "authors"


@pytest.mark.parametrize("groups, attn_name", [(7, "self_attn"), (4, "multihead_attn")])
def test_authors_checkpoint_gives_the_authors_logits(tmp_path: Path, images, groups: int, attn_name: str) -> None:
    ref, path = authors_checkpoint(tmp_path, groups, attn_name)
    result = import_checkpoint(path, **TINY)
    with torch.no_grad():
        expected, got = ref(images), result.model(images)
    assert result.kind == "authors" and result.fmt == "torch.save"
    assert result.model.labels == AFFECTNET7.classes
    assert result.model.config.decoder.num_groups == groups
    assert not result.model.training
    assert expected.abs().max() > 0.1  # logits of a real size, so the tolerance means something
    assert (expected - got).abs().max().item() <= 1e-4


def test_authors_alternative_spellings(tmp_path: Path, images) -> None:
    ref, path = authors_checkpoint(tmp_path)
    state = torch.load(path, weights_only=True)
    renamed = {
        k.replace("pose_encoder.projection", "pose_encoder.patch_embed.projection")
        .replace("query_embed.weight", "query_embed"): v
        for k, v in state.items()
    }
    torch.save({"module." + k: v for k, v in renamed.items()}, path)  # DataParallel prefix too
    model = load_checkpoint(path, **TINY)
    with torch.no_grad():
        assert (ref(images) - model(images)).abs().max().item() <= 1e-4


# --- (b) Sapiens pose checkpoints: mmengine dict with a 'meta' -------------------------------------------


def mmengine_checkpoint(path: Path, backbone: SapiensViT, meta: dict) -> Path:
    head = nn.Conv2d(DIM, 17, 1)
    state = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
    state.update({f"head.final_layer.{k}": v for k, v in head.state_dict().items()})
    torch.save({"state_dict": state, "meta": meta}, path)
    return path


def test_sapiens_pose_with_numpy_meta_loads_safely(tmp_path: Path, images) -> None:
    backbone = tiny_backbone()
    meta = {
        "dataset_meta": {"sigmas": np.linspace(0.1, 1.0, 17, dtype=np.float32), "flip_indices": list(range(17))},
        "epoch": np.int64(210),
        "best_score": np.float64(0.821),
        "dtype": np.dtype("float32"),
        "mmengine_version": "0.10.3",
        "hook_msgs": {"last_ckpt": "work_dirs/epoch_210.pth"},
    }
    path = mmengine_checkpoint(tmp_path / "sapiens_pose.pth", backbone, meta)
    result = import_checkpoint(path, **FRESH)
    assert result.kind == "sapiens-pose"
    assert result.model.labels == AFFECTNET8.classes
    assert result.model.config.image_size == IMAGE  # from the 12-token (4x3) position embedding
    assert any("head.final_layer.weight" in n for n in result.notes)
    assert any("meta" in n for n in result.notes)
    with torch.no_grad():
        assert torch.allclose(result.model.encoder(images), backbone(images), atol=1e-6)
    assert result.model(images).shape == (2, 8)


def test_sapiens_pose_labels_argument(tmp_path: Path) -> None:
    path = mmengine_checkpoint(tmp_path / "pose.pth", tiny_backbone(), {"note": "x"})
    model = load_checkpoint(path, labels="affectnet7", **FRESH)
    assert model.labels == AFFECTNET7.classes and model.config.decoder.num_classes == 7


class CustomRecord:  # a class the weights-only unpickler has never heard of
    def __init__(self) -> None:
        self.value = 3


def test_meta_with_a_custom_class_is_refused_with_one_clear_line(tmp_path: Path) -> None:
    path = mmengine_checkpoint(tmp_path / "custom.pth", tiny_backbone(), {"record": CustomRecord()})
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, **FRESH)
    msg = str(info.value)
    assert "\n" not in msg
    assert str(path) in msg and "CustomRecord" in msg
    assert "weights_only=False" in msg and "custom_weights.pth" in msg  # how to re-save it when trusted


class Payload:
    """Unpickling this writes a marker file: the shape of a malicious checkpoint."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


def test_payload_is_live(tmp_path: Path) -> None:
    """The payload really runs under plain pickle, so the next test means something."""
    marker = tmp_path / "control_marker"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()


@pytest.mark.parametrize("container", ["torch.save-meta", "torch.save-whole", "plain-pickle"])
def test_malicious_pickle_is_not_executed(tmp_path: Path, container: str) -> None:
    marker = tmp_path / "marker"
    path = tmp_path / "evil.pth"
    if container == "torch.save-meta":
        mmengine_checkpoint(path, tiny_backbone(), {"x": Payload(marker)})
    elif container == "torch.save-whole":
        torch.save(Payload(marker), path)
    else:
        path.write_bytes(pickle.dumps({"state_dict": {"w": Payload(marker)}}, protocol=2))
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, **FRESH)
    assert not marker.exists()
    assert str(path) in str(info.value)
    assert "exec" in str(info.value)  # the refused global is named


# --- (c) Sapiens pretrain: cls token + square grid -------------------------------------------------------


@pytest.mark.parametrize("prefix", ["", "backbone."])
def test_sapiens_pretrain_drops_cls_and_resizes_the_grid(tmp_path: Path, prefix: str) -> None:
    backbone = tiny_backbone()
    state = {f"{prefix}{k}": v for k, v in backbone.state_dict().items() if k != "pos_embed"}
    pos = torch.randn(1, 1 + 8 * 8, DIM)
    state[f"{prefix}pos_embed"] = pos
    state[f"{prefix}cls_token"] = torch.randn(1, 1, DIM)
    state["mask_token"] = torch.zeros(1, 1, DIM)  # MAE leftovers, ignored with a note
    state["decoder.layers.0.attn.qkv.weight"] = torch.zeros(3 * DIM, DIM)
    path = tmp_path / "pretrain.pth"
    torch.save(state, path)

    result = import_checkpoint(path, image_size=IMAGE, **FRESH)
    assert result.kind == "sapiens-pretrain"
    assert result.model.config.image_size == IMAGE
    expected = resize_pos_embed(pos[:, 1:], (8, 8), (4, 3))
    assert torch.equal(result.model.encoder.pos_embed.data, expected)
    assert torch.equal(result.model.encoder.layers[1].attn.qkv.weight, backbone.layers[1].attn.qkv.weight)
    ignored = next(n for n in result.notes if n.startswith("ignored"))
    assert "mask_token" in ignored and "decoder.layers.0.attn.qkv.weight" in ignored
    assert any("cls token" in n for n in result.notes)


def test_sapiens_pretrain_defaults_to_1024x768(tmp_path: Path) -> None:
    state = {k: v for k, v in tiny_backbone().state_dict().items() if k != "pos_embed"}
    pos = torch.randn(1, 1 + 8 * 8, DIM)
    state.update(pos_embed=pos, cls_token=torch.zeros(1, 1, DIM))
    torch.save(state, tmp_path / "pretrain.pth")
    model = load_checkpoint(tmp_path / "pretrain.pth", **FRESH)
    assert model.config.image_size == (1024, 768)
    assert torch.equal(model.encoder.pos_embed.data, resize_pos_embed(pos[:, 1:], (8, 8), (64, 48)))


# --- (d) TorchScript and torch.export .pt2 ---------------------------------------------------------------


class PoseWrapper(nn.Module):
    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Conv2d(DIM, 17, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.trace/save, to make the fixture
def test_torchscript_pt2(tmp_path: Path, images) -> None:
    backbone = tiny_backbone()
    path = tmp_path / "sapiens_0.3b_torchscript.pt2"
    with pytest.warns(torch.jit.TracerWarning):
        traced = torch.jit.trace(PoseWrapper(backbone).eval(), images)
    torch.jit.save(traced, str(path))
    result = import_checkpoint(path, **FRESH)
    assert (result.kind, result.fmt) == ("sapiens-pose", "torchscript")
    assert any("head" in n for n in result.notes)
    with torch.no_grad():
        assert torch.allclose(result.model.encoder(images), backbone(images), atol=1e-6)


def test_torch_export_pt2_bfloat16(tmp_path: Path, images) -> None:
    backbone = tiny_backbone()
    wrapper = PoseWrapper(backbone).eval().to(torch.bfloat16)
    program = torch.export.export(wrapper, (images.bfloat16(),))
    path = tmp_path / "sapiens_0.3b_bfloat16.pt2"
    torch.export.save(program, path)
    result = import_checkpoint(path, **FRESH)
    assert (result.kind, result.fmt) == ("sapiens-pose", "torch.export")
    assert any("bfloat16" in n for n in result.notes)
    for name, value in wrapper.backbone.state_dict().items():
        got = result.model.encoder.state_dict()[name]
        assert got.dtype == torch.float32 and torch.equal(got, value.float()), name


def test_torch_export_legacy_archive(tmp_path: Path) -> None:
    """torch < 2.6 wrote serialized_state_dict.pt (a torch.save'd dict) into the .pt2 zip."""
    backbone = tiny_backbone()
    buf = io.BytesIO()
    torch.save({f"backbone.{k}": v.bfloat16() for k, v in backbone.state_dict().items()}, buf)
    path = tmp_path / "legacy.pt2"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("serialized_exported_program.json", "{}")
        z.writestr("serialized_state_dict.pt", buf.getvalue())
        z.writestr("version", "5.1")
    model = load_checkpoint(path, **FRESH)
    assert torch.equal(model.encoder.ln1.weight, backbone.ln1.weight.bfloat16().float())


# --- (e) our own format, and convert ---------------------------------------------------------------------


def test_convert_round_trip_and_pass_through(tmp_path: Path, images) -> None:
    ref, path = authors_checkpoint(tmp_path)
    notes: list[str] = []
    out = convert(path, tmp_path / "converted", log=notes.append, **TINY)
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert notes and "authors" in notes[0]
    reread = MotivNet.from_pretrained(out)
    direct = load_checkpoint(path, **TINY)
    with torch.no_grad():
        logits = reread(images)
        assert torch.equal(logits, direct(images))
        assert (logits - ref(images)).abs().max().item() <= 1e-4
        # our folder and a bare model.safetensors pass straight through
        assert torch.equal(load_checkpoint(out)(images), logits)
        assert torch.equal(load_checkpoint(out / "model.safetensors")(images), logits)
    assert reread.labels == AFFECTNET7.classes and reread.config.encoder.num_heads == HEADS


def test_our_folder_can_be_relaid_out_for_another_image_size(tmp_path: Path) -> None:
    _, path = authors_checkpoint(tmp_path)
    folder = convert(path, tmp_path / "converted", **TINY)
    before = MotivNet.from_pretrained(folder)
    result = import_checkpoint(folder, image_size=(128, 96))
    assert (result.kind, result.fmt) == ("motivnet", "motivnet-folder")
    assert result.model.config.image_size == (128, 96)
    expected = resize_pos_embed(before.encoder.pos_embed.data, (4, 3), (8, 6))
    assert torch.equal(result.model.encoder.pos_embed.data, expected)
    with pytest.raises(ValueError, match="7 classes but 8 labels"):
        load_checkpoint(folder, labels="affectnet8")


def test_bare_safetensors_without_config_is_inferred(tmp_path: Path, images) -> None:
    _, path = authors_checkpoint(tmp_path)
    model = load_checkpoint(path, **TINY)
    bare = tmp_path / "bare" / "weights.safetensors"
    bare.parent.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bare))
    result = import_checkpoint(bare, **TINY)
    assert (result.kind, result.fmt) == ("motivnet", "safetensors")
    with torch.no_grad():
        assert torch.equal(result.model(images), model(images))


# --- building: on the meta device, weights assigned ------------------------------------------------------


@pytest.mark.parametrize("kind", ["authors", "sapiens-pose"])  # loaded decoder; fresh decoder
def test_meta_built_model_is_real_and_matches_the_plain_path(tmp_path: Path, images, monkeypatch, kind: str) -> None:
    if kind == "authors":
        _, path = authors_checkpoint(tmp_path)
        options = TINY
    else:
        path = mmengine_checkpoint(tmp_path / "pose.pth", tiny_backbone(), {"epoch": 3})
        options = FRESH
    init_devices: list[str] = []
    real_init = SapiensViT._init_weights

    def spy(self: SapiensViT) -> None:
        init_devices.append(self.pos_embed.device.type)
        real_init(self)

    monkeypatch.setattr(SapiensViT, "_init_weights", spy)
    model = load_checkpoint(path, **options)
    assert init_devices == ["meta"]  # the encoder was never randomly initialised for real

    tensors = dict(chain(model.named_parameters(), model.named_buffers()))
    assert [n for n, t in tensors.items() if t.is_meta or t.device.type != "cpu"] == []
    assert {t.dtype for t in tensors.values()} == {torch.float32}
    assert model.decoder.queries.device.type == "cpu" and not model.encoder.training

    # the non-meta path: a normally initialised model, the same weights copied in
    plain = MotivNet(model.config)
    state, _ = remap(read_checkpoint(path).state, kind)
    if kind == "sapiens-pose":  # a fresh decoder comes from the seed alone
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            fresh = MLDecoder(model.config.decoder)
        state.update({f"decoder.{k}": v for k, v in fresh.state_dict().items()})
    load_state_dict_strict(plain, state, source=str(path))
    plain.eval()
    assert [p.requires_grad for p in model.parameters()] == [p.requires_grad for p in plain.parameters()]
    for name, value in plain.state_dict().items():
        assert torch.equal(model.state_dict()[name], value), name
    with torch.no_grad():
        logits = model(images)
        assert torch.equal(logits, plain(images))
    assert logits.abs().max() > 0.01


def test_tied_weights_become_separate_parameters(tmp_path: Path) -> None:
    _, path = authors_checkpoint(tmp_path)
    state = torch.load(path, weights_only=True)
    state["pose_encoder.layers.1.ln1.weight"] = state["pose_encoder.layers.0.ln1.weight"]  # one storage, saved once
    torch.save(state, path)
    model = load_checkpoint(path, **TINY)
    a, b = model.encoder.layers[0].ln1.weight, model.encoder.layers[1].ln1.weight
    assert torch.equal(a, b) and a.data_ptr() != b.data_ptr()
    with torch.no_grad():
        a.add_(1.0)
    assert not torch.equal(a, b)


# --- config inference ------------------------------------------------------------------------------------


def test_registry_size_gives_num_heads(tmp_path: Path, monkeypatch) -> None:
    named = {"sapiens-test": SapiensConfig(embed_dim=DIM, depth=DEPTH, num_heads=4, image_size=IMAGE)}
    monkeypatch.setattr(checkpoints.infer, "SAPIENS_CONFIGS", named)
    _, path = authors_checkpoint(tmp_path)
    model = load_checkpoint(path)
    assert model.config.encoder.num_heads == 4 and model.config.encoder_name == "sapiens-test"


def test_unknown_size_falls_back_to_64_wide_heads_with_a_warning(tmp_path: Path) -> None:
    _, path = authors_checkpoint(tmp_path)
    with pytest.warns(UserWarning, match="num_heads"):
        model = load_checkpoint(path)
    assert model.config.encoder.num_heads == 1  # 32 // 64, at least one


def test_encoder_argument_must_match_the_tensors(tmp_path: Path) -> None:
    _, path = authors_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="sapiens-1b"):
        load_checkpoint(path, encoder="sapiens-1b")


def test_token_count_without_4_3_grid_needs_image_size(tmp_path: Path) -> None:
    backbone = tiny_backbone(image_size=(80, 32))  # 5x2 = 10 tokens: no 4:3 factorisation
    path = mmengine_checkpoint(tmp_path / "odd.pth", backbone, {})
    with pytest.raises(ValueError, match="image_size"):
        load_checkpoint(path, **FRESH)
    assert load_checkpoint(path, image_size=(80, 32), **FRESH).config.image_size == (80, 32)


# --- one clear error per bad checkpoint ------------------------------------------------------------------


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("missing", "missing keys (1): encoder.layers.0.ln2.weight"),
        ("unexpected", "unexpected keys (1): pose_encoder.extra_thing"),
        ("shape", "shape mismatches (1): encoder.layers.1.attn.proj.weight: checkpoint (32, 16) vs model (32, 32)"),
    ],
)
def test_bad_checkpoint_gives_one_error_naming_file_and_keys(tmp_path: Path, damage: str, expected: str) -> None:
    _, path = authors_checkpoint(tmp_path)
    state = torch.load(path, weights_only=True)
    if damage == "missing":
        del state["pose_encoder.layers.0.ln2.weight"]
    elif damage == "unexpected":
        state["pose_encoder.extra_thing"] = torch.zeros(3)
    else:
        state["pose_encoder.layers.1.attn.proj.weight"] = torch.zeros(DIM, DIM // 2)
    torch.save(state, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path, **TINY)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_unknown_layout_lists_keys_and_known_layouts(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(1), "fc.bias": torch.zeros(1)}, path)
    with pytest.raises(ValueError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert str(path) in msg and "conv1.weight" in msg and "sapiens-pretrain" in msg and "authors" in msg


def test_explicit_kind_that_does_not_fit(tmp_path: Path) -> None:
    _, path = authors_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="no key matches"):
        load_checkpoint(path, kind="pretrain", **TINY)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("hello, not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(path)
