"""The ``strings`` pass: own strings rebuilt in first-reference order.

Strings the base already has become base offsets.  Skipped when the strings
are known to be unique already (BTF built through the API, or deduplicated
before), as libbpf does."""

from __future__ import annotations

from array import array
from itertools import chain, compress, count, repeat

from ...errors import BTFFormatError
from ...format.kinds import (
    EXTRA,
)
from ...format.strings import StringTable
from .common import (
    StrValues,
)
from .state import _State


class _Strings(_State):
    def dedup_strings(self, values: StrValues | None = None) -> StringTable:
        """libbpf's ``btf_dedup_strings``: own strings rebuilt in first-reference order.

        A string the base has becomes the base's offset; the others are laid out
        anew, each once, without a leading NUL for split BTF.  One pass over the
        references, in order, lays out each string at its first reference and
        rewrites the offset; an offset past the table raises as
        :meth:`BTF.check_references` does.  ``values`` (the string columns per
        kind, as the reference check gathered them) lets it skip fields with offset 0.
        """
        btf = self.btf
        tab = btf.strings
        start = tab.start
        data = bytes(tab.data)
        # Offset 0 is the empty string (a base BTF's table starts with one) or the
        # base's: it never moves and lays nothing out.
        positions = self._string_positions(values or {}, start > 0 or data[:1] == b"\0")
        words = self.words
        if start:  # offsets below the own section (the base's) stay as they are
            positions = [p for p in positions if words[p] >= start]
        # Number each distinct text (from 1) and file each string's number at its
        # (local) offset, 0 elsewhere.  The table is as wide as the table of strings
        # is long, so its items are as narrow as the numbers allow: memory traffic,
        # not instructions, is what its lookups cost.
        pieces = data.split(b"\0")
        pieces.pop()
        numbers = dict(zip(dict.fromkeys(pieces), count(1)))
        at = array("H" if len(numbers) < 0x10000 else "I")
        at.frombytes(bytes(at.itemsize * (len(data) + 1)))
        off = 0
        for piece in pieces:
            at[off] = numbers[piece]
            off += len(piece) + 1
        del pieces
        texts = [b"", *numbers]
        new_off = [-1] * len(texts)  # per number, -1 until laid out
        parts: list[bytes] = []
        size = 0
        if btf.base is None:
            parts.append(b"")
            size = 1
        base_strs = self.index.strs if btf.base is not None else {}
        try:
            for p in positions:
                local = words[p] - start
                n = at[local]
                o = new_off[n]
                if o < 0:
                    if not n:  # an offset into the middle of a string (rare): number its text
                        text = data[local : data.index(b"\0", local)]
                        n = numbers.setdefault(text, len(texts))
                        if n == len(texts):
                            texts.append(text)
                            new_off.append(-1)
                        o = new_off[n]
                    if o < 0:  # the first reference to this text
                        text = texts[n]
                        o = base_strs.get(text, -1)
                        if o < 0:
                            if text:
                                o = start + size
                                parts.append(text)
                                size += len(text) + 1
                            else:
                                o = 0
                        new_off[n] = o
                words[p] = o
        except (IndexError, ValueError):  # an offset past the table (ValueError: at its end)
            btf.check_references()  # names the first bad field
            raise
        out = StringTable(base=tab.base)
        out.data[:] = b"".join(p + b"\0" for p in parts)
        return out

    def _string_positions(self, values: StrValues, skip_empty: bool) -> list[int]:
        """Word positions of the own string fields, in libbpf's visiting order.

        libbpf visits types in ID order and, in each, the name and then the
        element names; records lie in ID order in ``words``, so that order is
        just ascending position.  The positions are gathered kind by kind with
        C-level iteration and sorted.  With ``skip_empty``, fields holding offset
        0 (a third of them: pointers, prototypes and unnamed parameters) are
        left out where ``values`` has the kind's string columns.
        """
        words, vmask, shift = self.words, self.vmask, self.base_words
        groups = self.btf.records_by_kind()  # word positions in the BTF's own array
        if not skip_empty:
            values = {}
        positions = [] if values else self.offs[self.start_id :]
        for kind, ((first, per), group) in enumerate(zip(self._str_layout(), groups, strict=True)):
            if not group:
                continue
            strs = values.get(kind)
            if values:
                positions.extend([shift + w for w in (compress(group, strs[0]) if strs else group)])
            if not per:
                continue
            at, info = shift + first, shift + 1
            starts = [at + w for w in group]
            stops = [s + per * (words[info + w] & vmask) for s, w in zip(starts, group, strict=True)]
            elems = chain.from_iterable(map(range, starts, stops, repeat(per)))
            positions.extend(compress(elems, strs[1]) if strs else elems)
        positions.sort()
        return positions

    def _str_layout(self) -> list[tuple[int, int]]:
        """Per kind: first word of the element string fields and element stride (0: name only)."""
        out = []
        for k in range(self.btf.info_format.kind_mask + 1):
            try:
                s = self.btf.spec(k)
            except BTFFormatError:
                out.append((0, 0))
                continue
            if s.elem_strs:
                # Every kind with named elements has the name as the element's first word.
                out.append((EXTRA + s.extra_words + s.elem_strs[0], s.elem_words))
            else:
                out.append((0, 0))
        return out
