"""CLI verbs. Each module exposes ``register(subparsers)`` that adds its parser and sets
``run=`` to a function ``(args) -> exit code``."""
from . import convert, predict

COMMANDS = [predict.register, convert.register]
