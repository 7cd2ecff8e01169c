"""An exponential moving average of the weights (``ema_decay`` in a training config).

After every optimizer step each floating-point weight and buffer ``s`` of the average moves
toward the live one ``w``: ``s <- d s + (1 - d) w``, with ``d = min(decay, (1 + n) / (10 + n))``
at update ``n``, so a run from random weights is not dragged back to them for long (the
TensorFlow / timm ``num_updates`` ramp). The engine validates and exports the average, which is
usually a little better and much steadier from epoch to epoch than the last step's weights.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

import torch
from torch import nn


def check_decay(decay: float) -> None:
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must be between 0 and 1 (exclusive), not {decay}")


class WeightEMA:
    """The average of ``module``'s floating-point state (parameters and buffers), kept in float32."""

    def __init__(self, module: nn.Module, decay: float) -> None:
        check_decay(decay)
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().float().clone() for k, v in module.state_dict().items() if v.is_floating_point()}

    def current_decay(self) -> float:
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """One step toward ``module``'s current weights (call after each optimizer step)."""
        self.updates += 1
        live = module.state_dict()
        keys = list(self.shadow)
        torch._foreach_lerp_([self.shadow[k] for k in keys], [live[k].detach().float() for k in keys],
                             1.0 - self.current_decay())

    @contextlib.contextmanager
    def applied(self, module: nn.Module) -> Iterator[nn.Module]:
        """``module`` holds the average inside the block and its own weights again after it."""
        sd = module.state_dict()  # tensors share the module's storage: copy_ writes into it
        backup = {k: sd[k].detach().clone() for k in self.shadow}
        with torch.no_grad():
            for k, s in self.shadow.items():
                sd[k].copy_(s)
        try:
            yield module
        finally:
            with torch.no_grad():
                for k, b in backup.items():
                    sd[k].copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        missing = set(self.shadow) ^ set(state["shadow"])
        if missing:
            raise ValueError(f"the saved weight average does not match this model: {sorted(missing)[:5]}")
        self.updates = int(state["updates"])  # the decay is the config's: a resumed run may change it
        self.shadow = {k: v.float().clone() for k, v in state["shadow"].items()}


__all__ = ["WeightEMA", "check_decay"]
