"""Encoder, head and MotivNet: shapes, numerics against plain-torch references, save/load."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from motivnet.models import (
    SAPIENS_CONFIGS,
    MLDecoder,
    MLDecoderConfig,
    MotivNet,
    MotivNetConfig,
    SapiensConfig,
    SapiensViT,
    resize_pos_embed,
    sapiens_config,
)

TINY = SapiensConfig(embed_dim=32, depth=2, num_heads=2, image_size=(64, 48))


def tiny_model(**kw) -> MotivNet:
    torch.manual_seed(0)
    return MotivNet(MotivNetConfig.build(TINY, decoder_dim=32, **kw)).eval()


@pytest.mark.parametrize(
    "name,dim,depth,heads",
    [("sapiens-0.3b", 1024, 24, 16), ("sapiens-0.6b", 1280, 32, 16), ("sapiens-1b", 1536, 40, 24), ("sapiens-2b", 1920, 48, 32)],
)
def test_paper_sizes(name, dim, depth, heads):
    cfg = SAPIENS_CONFIGS[name]
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == (dim, depth, heads)
    assert cfg.image_size == (1024, 768) and cfg.grid == (64, 48)
    with torch.device("meta"):  # full size, no memory
        enc = SapiensViT(cfg)
    assert enc.pos_embed.shape == (1, 3072, dim)
    assert enc.patch_embed.projection.padding == (2, 2)
    blk = enc.layers[0]
    assert blk.ffn.layers[0][0].out_features == 4 * dim and blk.ln1.eps == 1e-6
    assert len(enc.layers) == depth and enc.ln1.normalized_shape == (dim,)
    assert not hasattr(enc, "cls_token")


def test_cpu_sizes_by_name():
    assert sapiens_config("tiny").embed_dim < sapiens_config("small").embed_dim < 1024
    assert sapiens_config("sapiens-tiny", image_size=(64, 64)).grid == (4, 4)
    with pytest.raises(KeyError, match="unknown encoder"):
        sapiens_config("sapiens-9b")


def test_encoder_feature_map_any_size():
    enc = SapiensViT(TINY).eval()
    assert enc(torch.randn(2, 3, 64, 48)).shape == (2, 32, 4, 3)
    assert enc(torch.randn(1, 3, 96, 160)).shape == (1, 32, 6, 10)
    with pytest.raises(ValueError, match="divisible"):
        enc(torch.randn(1, 3, 50, 48))


def test_resize_pos_embed_is_float32_bicubic():
    pe = torch.randn(1, 1 + 4 * 3, 8).to(torch.bfloat16)
    out = resize_pos_embed(pe, (4, 3), (8, 6), num_extra_tokens=1)
    grid = pe[:, 1:].float().reshape(1, 4, 3, 8).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, size=(8, 6), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
    assert out.dtype == torch.bfloat16 and out.shape == (1, 1 + 48, 8)
    torch.testing.assert_close(out[:, 1:].float(), ref.to(torch.bfloat16).float())
    assert torch.equal(out[:, :1], pe[:, :1])
    assert resize_pos_embed(pe[:, 1:], (4, 3), (4, 3)) is not None


def test_encoder_uses_resized_pos_embed_for_other_grids():
    enc = SapiensViT(TINY).eval()
    x = torch.randn(1, 3, 32, 32)
    tokens, grid = enc.patch_embed(x)
    h = tokens + resize_pos_embed(enc.pos_embed, (4, 3), grid)
    for layer in enc.layers:
        h = layer(h)
    ref = enc.ln1(h).transpose(1, 2).reshape(1, 32, 2, 2)
    torch.testing.assert_close(enc(x), ref)


def test_attention_matches_explicit_softmax():
    enc = SapiensViT(TINY).eval()
    attn = enc.layers[0].attn
    x = torch.randn(2, 5, 32)
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 2, 16).permute(2, 0, 3, 1, 4)
    w = (q @ k.transpose(-1, -2) / 16**0.5).softmax(-1)
    ref = attn.proj((w @ v).transpose(1, 2).reshape(2, 5, 32))
    torch.testing.assert_close(attn(x), ref, atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_same_gradients():
    torch.manual_seed(0)
    enc = SapiensViT(TINY).train()
    x = torch.randn(2, 3, 64, 48)
    enc(x).square().mean().backward()
    g1 = [p.grad.clone() for p in enc.parameters()]
    enc.zero_grad()
    enc.set_grad_checkpointing(True)
    enc(x).square().mean().backward()
    for a, p in zip(g1, enc.parameters()):
        torch.testing.assert_close(a, p.grad)


def test_decoder_group_fc_and_fixed_queries():
    cfg = MLDecoderConfig(num_classes=7, in_dim=32, embed_dim=16, num_heads=2, ffn_dim=24)
    dec = MLDecoder(cfg).eval()
    assert "queries" in dec.state_dict() and all(p is not dec.queries for p in dec.parameters())
    assert dec.group_fc_weight.shape == (7, 16, 1)
    feats = torch.randn(3, 32, 4, 3)
    logits = dec(feats)
    assert logits.shape == (3, 7)
    # The batched group FC equals the reference per-group loop.
    memory = F.relu(dec.proj(feats.flatten(2).transpose(1, 2)))
    h = dec.queries.expand(3, -1, -1)
    for layer in dec.layers:
        h = layer(h, memory)
    loop = torch.stack([h[:, i] @ dec.group_fc_weight[i] for i in range(7)], 1).flatten(1) + dec.group_fc_bias
    torch.testing.assert_close(logits, loop)
    torch.testing.assert_close(dec(feats.flatten(2).transpose(1, 2)), logits)  # tokens work too


def test_decoder_fewer_groups_than_classes():
    dec = MLDecoder(MLDecoderConfig(num_classes=8, in_dim=8, embed_dim=16, num_heads=2, ffn_dim=8, num_groups=3))
    assert dec.group_fc_weight.shape == (3, 16, 3)
    assert dec(torch.randn(2, 5, 8)).shape == (2, 8)


def test_eval_is_deterministic_train_is_not():
    model = tiny_model()
    x = torch.randn(2, 3, 64, 48)
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x))  # decoder dropout 0.1 is live in training


def test_save_and_from_pretrained_roundtrip(tmp_path):
    model = tiny_model(labels="affectnet7", resize="pad")
    model.save_pretrained(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["labels"][0] == "neutral" and len(cfg["labels"]) == 7 and cfg["resize"] == "pad"
    loaded = MotivNet.from_pretrained(tmp_path / "m")
    assert loaded.config == model.config
    x = torch.randn(2, 3, 64, 48)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    torch.testing.assert_close(loaded.decoder.queries, model.decoder.queries)


def test_half_precision_storage_loads_back_as_float32(tmp_path):
    from safetensors.torch import load_file

    model = tiny_model()
    model.save_pretrained(tmp_path, dtype=torch.float16)
    assert load_file(tmp_path / "model.safetensors")["encoder.pos_embed"].dtype == torch.float16
    loaded = MotivNet.from_pretrained(tmp_path)
    assert loaded.encoder.pos_embed.dtype == torch.float32
    x = torch.randn(2, 3, 64, 48)
    torch.testing.assert_close(loaded(x), model(x), atol=2e-2, rtol=0)


def test_from_pretrained_names_bad_keys(tmp_path):
    from safetensors.torch import load_file, save_file

    tiny_model().save_pretrained(tmp_path)
    state = load_file(tmp_path / "model.safetensors")
    state.pop("encoder.ln1.weight")
    state["encoder.extra"] = torch.zeros(1)
    state["decoder.proj.bias"] = torch.zeros(5)
    save_file(state, tmp_path / "model.safetensors")
    with pytest.raises(ValueError) as err:
        MotivNet.from_pretrained(tmp_path)
    msg = str(err.value)
    assert "encoder.ln1.weight" in msg and "encoder.extra" in msg and "decoder.proj.bias" in msg
    assert "missing" in msg and "unexpected" in msg and "shape" in msg


def test_config_validation():
    with pytest.raises(ValueError, match="divisible"):
        SapiensConfig(embed_dim=30, depth=1, num_heads=4)
    with pytest.raises(ValueError, match="resize"):
        MotivNetConfig.build(TINY, resize="crop")
    with pytest.raises(ValueError, match="unknown emotion label"):
        MotivNetConfig.build(TINY, labels=["happy", "bored"])


def test_average_weights_is_the_mean_and_refuses_other_architectures(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from motivnet.models import average_weights

    a = tiny_model()
    torch.manual_seed(1)
    b = MotivNet(MotivNetConfig.build(SapiensConfig(embed_dim=32, depth=2, num_heads=2, image_size=(64, 48), drop_path_rate=0.2),
                                      decoder_dim=32)).eval()  # drop-path is training-only: still averageable
    soup = average_weights([a, b])
    for k, v in soup.state_dict().items():
        torch.testing.assert_close(v, (a.state_dict()[k] + b.state_dict()[k]) / 2)
    assert soup.config == a.config and soup is not a
    torch.testing.assert_close(a.encoder.pos_embed, tiny_model().encoder.pos_embed)  # inputs untouched
    deeper = MotivNet(MotivNetConfig.build(SapiensConfig(embed_dim=32, depth=3, num_heads=2, image_size=(64, 48)), decoder_dim=32))
    with pytest.raises(ValueError, match="encoder.depth"):
        average_weights([a, deeper])

    # the tool: folders in, a folder plus its provenance out; never over an existing folder
    a.save_pretrained(tmp_path / "a")
    b.save_pretrained(tmp_path / "b")
    tool = Path(__file__).resolve().parents[1] / "tools" / "average_checkpoints.py"
    cmd = [sys.executable, str(tool), str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "soup")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    x = torch.randn(2, 3, 64, 48)
    torch.testing.assert_close(MotivNet.from_pretrained(tmp_path / "soup")(x), soup(x))
    record = json.loads((tmp_path / "soup" / "averaged_from.json").read_text())
    assert [m["path"] for m in record["models"]] == [str(tmp_path / "a"), str(tmp_path / "b")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "not overwriting" in r.stderr
