"""btfkit: read, build, deduplicate and dump BTF (the BPF Type Format) in Python."""

from .errors import (
    BTFError,
    BTFFormatError,
    BTFHeaderError,
    BTFStringError,
    BTFValidationError,
    BuildError,
    DedupError,
    ELFError,
    NotFoundError,
    TypeIDError,
)
from .format.btf import BTF, ArrayInfo, EnumValue, Member, Param, Type, VarSecInfo
from .format.kinds import IntEncoding, Kind, Linkage
from .format.reader import load, parse
from .format.writer import to_bytes, write

__version__ = "0.1.0"

__all__ = [
    "BTF",
    "ArrayInfo",
    "BTFError",
    "BTFFormatError",
    "BTFHeaderError",
    "BTFStringError",
    "BTFValidationError",
    "BuildError",
    "DedupError",
    "ELFError",
    "EnumValue",
    "IntEncoding",
    "Kind",
    "Linkage",
    "Member",
    "NotFoundError",
    "Param",
    "Type",
    "TypeIDError",
    "VarSecInfo",
    "load",
    "parse",
    "to_bytes",
    "write",
]
