"""What the commands share: reading an input with its base, and how the process ends."""

from __future__ import annotations

from ..format.btf import BTF
from ..format.reader import load

SYS_VMLINUX = "/sys/kernel/btf/vmlinux"

#: Set by :func:`btfkit.cli.app.run`: the process ends right after the command, without
#: tearing down, so a command may keep what it built for the exit to drop.
exiting_fast = False


def load_input(path: str, base: str | None) -> BTF:
    """Read ``path`` as BTF, split on the BTF read from ``base`` when one is given."""
    return load(path, load(base) if base else None)
