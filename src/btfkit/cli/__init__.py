"""The ``btfkit`` command line: a thin layer of argument parsing over the library."""

from .app import main, run

__all__ = ["main", "run"]
