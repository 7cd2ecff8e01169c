"""Model architectures: the Sapiens encoder, the ML-Decoder head and MotivNet."""
from .averaging import average_weights
from .ml_decoder import MLDecoder, MLDecoderConfig
from .motivnet import MotivNet, MotivNetConfig, load_state_dict_strict
from .sapiens import SAPIENS_CONFIGS, SapiensConfig, SapiensViT, resize_pos_embed, sapiens_config, sapiens_vit

__all__ = [
    "MLDecoder",
    "MLDecoderConfig",
    "MotivNet",
    "MotivNetConfig",
    "SAPIENS_CONFIGS",
    "SapiensConfig",
    "SapiensViT",
    "load_state_dict_strict",
    "resize_pos_embed",
    "sapiens_config",
    "sapiens_vit",
    "average_weights",
]
