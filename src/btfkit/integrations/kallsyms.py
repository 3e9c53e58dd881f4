"""Kernel symbol tables as text: ``/proc/kallsyms``, a saved copy of it, or ``System.map``.

Both formats are lines of ``ADDRESS TYPE NAME``; kallsyms adds ``\\t[MODULE]`` to a
module's symbols.  TYPE is nm's letter: upper case for global symbols, ``t``/``T``
for text, ``d``/``b``/``r`` and friends for data, ``w``/``v`` for weak ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

from ..errors import BTFError


class KallsymsError(BTFError):
    """A symbol table that cannot be read or holds no usable addresses."""


class KernelSymbol(NamedTuple):
    """One line of a symbol table; ``module`` is ``""`` for vmlinux."""

    address: int
    code: str
    name: str
    module: str


@dataclass
class Kallsyms:
    """A kernel symbol table, looked up by name (and module)."""

    symbols: list[KernelSymbol]
    _by_name: dict[tuple[str, str], list[KernelSymbol]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for sym in self.symbols:
            self._by_name.setdefault((sym.name, sym.module), []).append(sym)

    def address(self, name: str, module: str = "") -> int | None:
        """The address of ``name`` (in ``module``), preferring a global symbol; None if absent.

        Static symbols can share a name (each file may have its own ``t foo``): a global
        one is the one C code means, else the first listed.
        """
        found = self._by_name.get((name, module))
        if not found:
            return None
        for sym in found:
            if sym.code.isupper():
                return sym.address
        return found[0].address

    def sized(self) -> list[tuple[KernelSymbol, int]]:
        """Every symbol with its size: the distance to the next higher address of its module (0 for the last)."""
        by_module: dict[str, list[KernelSymbol]] = {}
        for sym in self.symbols:
            by_module.setdefault(sym.module, []).append(sym)
        out: list[tuple[KernelSymbol, int]] = []
        for syms in by_module.values():
            syms.sort(key=lambda s: s.address)
            addresses = sorted({s.address for s in syms})
            following = dict(zip(addresses, [*addresses[1:], None], strict=True))
            for sym in syms:
                nxt = following[sym.address]
                out.append((sym, nxt - sym.address if nxt is not None else 0))
        return out


def parse_kallsyms(text: str, source: str = "<kallsyms>") -> Kallsyms:
    """Read ``/proc/kallsyms`` or ``System.map`` text; raises :class:`KallsymsError` if unusable."""
    symbols = []
    for lineno, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 3:
            raise KallsymsError(f"{source}:{lineno}: expected 'ADDRESS TYPE NAME', got {line!r}")
        try:
            address = int(parts[0], 16)
        except ValueError:
            raise KallsymsError(f"{source}:{lineno}: bad address {parts[0]!r}") from None
        module = parts[3].strip("[]") if len(parts) > 3 else ""
        symbols.append(KernelSymbol(address, parts[1], parts[2], module))
    if symbols and not any(s.address for s in symbols):
        raise KallsymsError(
            f"{source}: every address is 0 (kallsyms hides addresses from unprivileged readers: "
            "read it as root, or give System.map)"
        )
    return Kallsyms(symbols)


def load_kallsyms(path: str | os.PathLike[str]) -> Kallsyms:
    """Read a symbol table file (``/proc/kallsyms``, a copy of it, or ``System.map``)."""
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as exc:
        raise KallsymsError(f"{name}: {exc.strerror}") from exc
    return parse_kallsyms(text, name)
