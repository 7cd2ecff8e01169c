"""Building the model a checkpoint describes without random-initialising weights it will overwrite."""
from __future__ import annotations

from itertools import chain

import torch
from torch import Tensor, nn

from ..models.ml_decoder import MLDecoder
from ..models.motivnet import MotivNet, MotivNetConfig, load_state_dict_strict
from ..models.sapiens import SapiensViT


def build_model(config: MotivNetConfig, state: dict[str, Tensor], fresh_decoder: bool, seed: int, source: str) -> MotivNet:
    """A model holding ``state`` (plus a seeded fresh decoder when asked), strictly checked, in eval mode.

    Parts whose every tensor ``state`` provides are built on the meta device (shapes only: no memory,
    no random init) and take ``state``'s tensors by assignment. A fresh decoder, or a part ``state``
    lacks tensors for (the strict load then names them), is built for real, seeded with ``seed``
    without disturbing the caller's RNG.
    """
    with torch.device("meta"):
        model = MotivNet(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if not _provides(state, model.encoder, "encoder."):
            model.encoder = SapiensViT(config.encoder)
        if fresh_decoder or not _provides(state, model.decoder, "decoder."):
            model.decoder = MLDecoder(config.decoder)
    if fresh_decoder:
        state.update({f"decoder.{k}": v for k, v in model.decoder.state_dict().items()})
    load_state_dict_strict(model, _owned(state), source=source, assign=True)
    return model.eval()


def _provides(state: dict[str, Tensor], module: nn.Module, prefix: str) -> bool:
    """Whether ``state`` holds every parameter and buffer of ``module`` (non-persistent ones included)."""
    return all(f"{prefix}{name}" in state for name, _ in chain(module.named_parameters(), module.named_buffers()))


def _owned(state: dict[str, Tensor]) -> dict[str, Tensor]:
    """``state`` with each tensor the sole, whole, contiguous user of its memory (cloned where not), so
    that assigned parameters neither alias each other (tied weights, shared torch.export payloads)
    nor keep a larger buffer alive."""
    seen: set[int] = set()
    out: dict[str, Tensor] = {}
    for key, value in state.items():
        storage = value.untyped_storage()
        whole = value.is_contiguous() and value.storage_offset() == 0 and storage.nbytes() == value.nbytes
        if not whole or storage.data_ptr() in seen:
            value = value.clone(memory_format=torch.contiguous_format)
        seen.add(value.untyped_storage().data_ptr())
        out[key] = value
    return out
