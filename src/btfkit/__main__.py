"""``python -m btfkit``."""

from .cli import run

run()
