"""Fixtures shared by the test modules."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from motivnet.models import MotivNet, MotivNetConfig, SapiensConfig


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> Path:
    """A tiny random MotivNet saved as a model folder (32x32 input, 8 AffectNet classes)."""
    torch.manual_seed(0)
    cfg = MotivNetConfig.build(SapiensConfig(embed_dim=32, depth=1, num_heads=2, image_size=(32, 32)), decoder_dim=32)
    return MotivNet(cfg).save_pretrained(tmp_path_factory.mktemp("w") / "tiny")
