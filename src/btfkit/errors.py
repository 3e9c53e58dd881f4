"""Errors raised by btfkit.

Every error btfkit raises on purpose is a :class:`BTFError`::

    BTFError
    ├── BTFFormatError        malformed input (carries .offset and/or .type_id)
    │   ├── BTFHeaderError    magic, header length, section bounds
    │   ├── BTFStringError    string offsets and the string section's shape
    │   └── BTFValidationError   a rule the kernel's BTF verifier enforces
    ├── ELFError              an ELF or compressed container that cannot be read
    ├── TypeIDError           a type ID outside the BTF
    ├── NotFoundError         a name lookup that matched nothing
    │   └── MemberNotFoundError   no member (enumerator, parameter, variable) of that name
    ├── AmbiguousError        a name lookup that matched several types
    ├── KindError             an accessor asked of a type whose kind does not have it
    ├── BitfieldError         a byte offset asked of a bitfield
    ├── BuildError            invalid arguments to the builder
    ├── DedupError            deduplication could not proceed
    ├── BaseMismatchError     a split BTF read on a base it was not built on
    ├── DistillError          a split BTF that cannot be distilled
    └── RelocateError         a split BTF on a distilled base that cannot be relocated (.type_name)
"""

from __future__ import annotations


class BTFError(Exception):
    """Base class of every error btfkit raises on purpose."""


class BTFFormatError(BTFError, ValueError):
    """Malformed BTF; ``offset`` (bytes into the blob) and ``type_id`` say where, when known."""

    def __init__(self, message: str, *, offset: int | None = None, type_id: int | None = None):
        where = []
        if type_id is not None:
            where.append(f"type [{type_id}]")
        if offset is not None:
            where.append(f"offset {offset:#x}")
        super().__init__(f"{', '.join(where)}: {message}" if where else message)
        self.offset = offset
        self.type_id = type_id


class BTFHeaderError(BTFFormatError):
    """The header or the section layout is wrong."""


class BTFStringError(BTFFormatError):
    """A string offset or the string section itself is wrong."""


class BTFValidationError(BTFFormatError):
    """The BTF breaks a rule of the kernel's BTF verifier."""


class ELFError(BTFError):
    """An ELF object, module or kernel image could not be read."""


class TypeIDError(BTFError, KeyError):
    """A type ID that does not exist in this BTF (or its base)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotFoundError(BTFError, LookupError):
    """No type matched a lookup by name."""


class MemberNotFoundError(NotFoundError, KeyError):
    """A type has no member (enumerator, parameter, variable) of the name asked for."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class AmbiguousError(BTFError, LookupError):
    """A name matched several types; ``candidates`` lists them (as :class:`~btfkit.Type`)."""

    def __init__(self, message: str, candidates: tuple[object, ...] = ()):
        super().__init__(message)
        self.candidates = candidates


class KindError(BTFError, TypeError):
    """An accessor that does not apply to the type's kind (``.members`` of an INT, ...)."""


class BitfieldError(BTFError, ValueError):
    """A byte offset was asked of a bitfield; ``bit_offsetof`` gives its offset in bits."""


class BuildError(BTFError, ValueError):
    """The builder was asked to create a type the format cannot express."""


class DedupError(BTFError):
    """Deduplication failed (unsupported kind, reference loop, ...)."""


class BaseMismatchError(BTFError):
    """A split BTF read on a base it was not built on (see :mod:`btfkit.format.basefit`)."""


class DistillError(BTFError):
    """The split BTF cannot be distilled (it is not split, or refers to a base type no module should)."""


class RelocateError(BTFError):
    """A split BTF could not be relocated; ``type_name`` names the distilled type at fault, if one is."""

    def __init__(self, message: str, type_name: str | None = None):
        super().__init__(message)
        self.type_name = type_name
