"""CLI verbs. Each module exposes ``register(subparsers)`` that adds its parser and sets
``run=`` to a function ``(args) -> exit code``."""
from ..train import cli as train
from . import convert, predict

COMMANDS = [predict.register, train.register, convert.register]
