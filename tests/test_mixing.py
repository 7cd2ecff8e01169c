"""Batch mixing (mixup / CutMix): the mixed images and targets agree on the mixing weight."""
from __future__ import annotations

import pytest
import torch

from motivnet.train.mixing import MixConfig, mix_batch


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 3, 8, 6).clone()  # image i is all i
    return x, torch.tensor([0, 1, 2, 3])


def test_mixup_blends_images_and_targets_with_one_weight():
    x, y = _batch()
    out, t = mix_batch(x, y, 5, MixConfig(mixup_alpha=0.4), seed=1)
    lam = float(t[0, 0])
    assert 0.0 < lam < 1.0 and torch.equal(x, _batch()[0])  # the input is untouched
    torch.testing.assert_close(out, lam * x + (1 - lam) * x.flip(0))
    torch.testing.assert_close(t[0], torch.tensor([lam, 0, 0, 1 - lam, 0]))
    torch.testing.assert_close(t.sum(1), torch.ones(4))


def test_cutmix_target_weight_is_the_share_of_pixels_kept():
    x, y = _batch()
    for seed in range(20):
        out, t = mix_batch(x, y, 4, MixConfig(cutmix_alpha=1.0), seed=seed)
        kept = (out[0] == 0).float().mean()  # image 0 is all 0, its partner (image 3) all 3
        assert set(out[0].unique().tolist()) <= {0.0, 3.0}
        torch.testing.assert_close(t[0], torch.tensor([float(kept), 0, 0, 1 - float(kept)]))


def test_soft_targets_mix_and_unmixed_batches_come_back_one_hot():
    x, y = _batch()
    soft = torch.nn.functional.one_hot(y, 4).float() * 0.5 + 0.125
    _, t = mix_batch(x, soft, 4, MixConfig(mixup_alpha=1.0), seed=2)
    lam = (t[0] - soft[3]).div(soft[0] - soft[3])[0]
    torch.testing.assert_close(t[0], lam * soft[0] + (1 - lam) * soft[3])
    out, t = mix_batch(x, y, 4, MixConfig(mixup_alpha=1.0, prob=0.0), seed=2)
    assert out is x and torch.equal(t, torch.eye(4))
    a, b = mix_batch(x, y, 4, MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0), seed=7), mix_batch(x, y, 4, MixConfig(mixup_alpha=1.0, cutmix_alpha=1.0), seed=7)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # seeded: a resumed run mixes the same


@pytest.mark.parametrize("bad, match", [({"mixup_alpha": -1.0}, "alpha"), ({"prob": 1.5}, r"mix.prob must be in \[0, 1\]")])
def test_bad_mix_settings_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        MixConfig(**bad).validate()
