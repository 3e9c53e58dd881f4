"""Pausing Python's cycle collector around bulk passes over a whole BTF."""

from __future__ import annotations

import gc


class paused_gc:
    """Keep the cycle collector off for the ``with`` block (restoring its state after).

    Reading, dumping, deduplicating or encoding a kernel's BTF allocates hundreds
    of thousands of small, acyclic objects; the collector would scan them (and the
    base) again and again for nothing, which costs up to a fifth of the time.
    """

    def __enter__(self) -> None:
        self.enabled = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            gc.enable()
