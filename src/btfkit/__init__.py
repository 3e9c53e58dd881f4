"""btfkit: read, build, deduplicate and dump BTF (the BPF Type Format) in Python.

>>> import btfkit
>>> vm = btfkit.load("/sys/kernel/btf/vmlinux")          # doctest: +SKIP
>>> vm.type("struct task_struct").offsetof("pid")         # doctest: +SKIP

Reading and writing: :func:`load`, :func:`parse`, :func:`write`, :func:`to_bytes`.
The model: :class:`BTF`, :class:`Type` (and its :class:`Member` and friends),
:class:`Kind`.  Verbs, each returning its result: :func:`dedup` (in place),
:func:`merge`, :func:`encode` (DWARF to BTF), :func:`link`, :func:`distill` (a module's
split BTF and its distilled base) and :func:`relocate` (onto another vmlinux), and the dumps
:func:`dump_c` (``str``), :func:`dump_raw` and :func:`dump_json` (``bytes``),
with :func:`write_c`, :func:`write_raw` and :func:`write_json` writing the same
text to a stream.  The verbs are imported on first use (start-up time counts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import (
    AmbiguousError,
    BaseMismatchError,
    BitfieldError,
    BTFError,
    BTFFormatError,
    BTFHeaderError,
    BTFStringError,
    BTFValidationError,
    BuildError,
    DedupError,
    DistillError,
    ELFError,
    KindError,
    MemberNotFoundError,
    NotFoundError,
    RelocateError,
    TypeIDError,
)
from .format.btf import BTF, ArrayInfo, EnumValue, Member, Param, Type, VarSecInfo
from .format.kinds import IntEncoding, Kind, Linkage
from .format.reader import load, parse
from .format.writer import to_bytes, write

if TYPE_CHECKING:
    from .format.build import Builder
    from .format.relocate import relocate
    from .outputs.c import dump_c, write_c
    from .outputs.json import dump_json, write_json
    from .outputs.raw import dump_raw, write_raw
    from .sources.encode import encode, link
    from .transforms.dedup import dedup
    from .transforms.distill import distill
    from .transforms.merge import merge

__version__ = "0.1.0"

# Verbs imported on first use: name -> module (relative to this package).
_LAZY = {
    "Builder": ".format.build",
    "dedup": ".transforms.dedup",
    "distill": ".transforms.distill",
    "dump_c": ".outputs.c",
    "dump_json": ".outputs.json",
    "dump_raw": ".outputs.raw",
    "encode": ".sources.encode",
    "link": ".sources.encode",
    "merge": ".transforms.merge",
    "relocate": ".format.relocate",
    "write_c": ".outputs.c",
    "write_json": ".outputs.json",
    "write_raw": ".outputs.raw",
}


def __getattr__(name: str) -> Any:
    """Import a verb the first time it is asked for."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'btfkit' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 (only when a verb is first used)

    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "BTF",
    "AmbiguousError",
    "ArrayInfo",
    "BTFError",
    "BTFFormatError",
    "BTFHeaderError",
    "BTFStringError",
    "BTFValidationError",
    "BaseMismatchError",
    "BitfieldError",
    "BuildError",
    "Builder",
    "DedupError",
    "DistillError",
    "ELFError",
    "EnumValue",
    "IntEncoding",
    "Kind",
    "KindError",
    "Linkage",
    "Member",
    "MemberNotFoundError",
    "NotFoundError",
    "Param",
    "RelocateError",
    "Type",
    "TypeIDError",
    "VarSecInfo",
    "dedup",
    "distill",
    "dump_c",
    "dump_json",
    "dump_raw",
    "encode",
    "link",
    "load",
    "merge",
    "parse",
    "relocate",
    "to_bytes",
    "write",
    "write_c",
    "write_json",
    "write_raw",
]
