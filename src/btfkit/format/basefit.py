"""Whether a split BTF was read on the base it was built on.

Raw split BTF records nothing about its base: its type IDs continue after the
base's last ID and its string offsets after the base's string section, whatever
base the reader supplies.  A wrong base therefore shows only indirectly, and
:func:`check_base_fits` looks where it shows:

- a type ID or a string offset past the end of base and split together;
- a name offset that lands in the middle of a string (of the base or of the split's
  own section).  libbpf, pahole and btfkit only ever refer to whole strings, so
  with the right base every name starts at a string's first byte; with a wrong
  base the offsets are shifted and almost all of them land mid-string.

What it cannot see: a wrong base whose strings and type count happen to line up
with the right one's (the same kernel built twice, say).  For kernel modules the
vermagic release tells more (:mod:`btfkit.format.kernelinfo`); raw files have no
such record.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import chain

from ..errors import BaseMismatchError
from .btf import BTF
from .kinds import field_values
from .strings import StringTable

__all__ = ["check_base_fits"]


def _mid_string(table: StringTable, offsets: Iterable[int]) -> list[int]:
    """The ``offsets`` (valid global ones) that do not start a string of ``table`` or its bases."""
    own, start = table.data, table.start
    mid = [off for off in offsets if off > start and own[off - start - 1]]
    below = [off for off in offsets if off < start]
    if below and table.base is not None:
        mid += _mid_string(table.base, below)
    return mid


def check_base_fits(btf: BTF) -> None:
    """Raise :class:`BaseMismatchError` when ``btf`` (split) evidently does not extend its base.

    Does nothing for a BTF without base.  The error is one line saying why the base
    does not fit, with the first offending type.
    """
    base = btf.base
    if base is None or not len(btf):
        return
    words = btf.words
    type_count = btf.type_count
    str_end = btf.strings.end
    vmask = btf.info_format.vlen_mask
    data = words.tobytes()
    names: set[int] = set()
    for kind, group in enumerate(btf.records_by_kind()):
        if not group:
            continue
        refs, strs = field_values(words, group, btf.spec(kind), vmask, data=data)
        top = max(chain.from_iterable(refs), default=0)
        if top >= type_count:
            raise BaseMismatchError(
                f"the base does not fit: a type refers to ID {top}, past the last ID {type_count - 1} "
                f"of base ({base.type_count - 1} types) and split ({len(btf)} types)"
            )
        names.update(chain.from_iterable(strs))
    names.discard(0)
    if not names:
        return
    top = max(names)
    if top >= str_end:
        raise BaseMismatchError(
            f"the base does not fit: a name at string offset {top} lies past the end ({str_end}) of "
            f"the base's strings ({base.strings.end} bytes) and the split's ({len(btf.strings)} bytes)"
        )
    mid = _mid_string(btf.strings, names)
    if mid:
        where = "the base's" if min(mid) < btf.strings.start else "the split's own"
        raise BaseMismatchError(
            f"the base does not fit: {len(mid)} of {len(names)} names start in the middle of a string "
            f"(e.g. offset {min(mid)}, in {where} strings); the split BTF was built on another base"
        )
