"""CLI verbs. Each module exposes ``register(subparsers)`` that adds its parser and sets
``run=`` to a function ``(args) -> exit code``."""
from ..train import cli as train
from . import benchmark, convert, evaluate, export, predict, pretrain, serve

COMMANDS = [predict.register, train.register, pretrain.register, evaluate.register, convert.register, export.register, benchmark.register, serve.register]
