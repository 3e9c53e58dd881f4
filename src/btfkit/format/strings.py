"""String sections: split-aware reading and deduplicating additions.

A string offset below ``start`` belongs to the base's table, so a split BTF and
its base read as one table.  Adding a string first looks for it (as a whole
string) in the base, then among this table's own strings, and only then
appends it, the way libbpf's ``btf__add_str`` does.
"""

from __future__ import annotations

from ..errors import BTFStringError


class StringTable:
    """The strings of one BTF, on top of its base's strings (if any).

    ``data`` holds only this table's own bytes; global offset ``start + k`` is
    local byte ``k``.
    """

    __slots__ = ("_cache", "_index", "base", "data", "start")

    def __init__(self, data: bytes = b"", base: StringTable | None = None):
        self.base = base
        self.start = base.end if base is not None else 0
        if base is None and not data:
            data = b"\0"  # offset 0 is always the empty name
        self.data = bytearray(data)
        self._cache: dict[int, str] = {}
        self._index: dict[bytes, int] | None = None

    @property
    def end(self) -> int:
        """The first global offset after this table (where a split's strings start)."""
        return self.start + len(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def get(self, offset: int) -> str:
        """The string at a global ``offset`` (any offset inside a string is allowed)."""
        try:
            return self._cache[offset]
        except KeyError:
            pass
        if offset < self.start:
            if self.base is None:  # (start is 0 without a base)
                raise BTFStringError(f"string offset {offset} is negative")
            return self.base.get(offset)
        local = offset - self.start
        if local >= len(self.data):
            raise BTFStringError(f"string offset {offset} beyond the string section")
        end = self.data.find(0, local)
        if end < 0:
            raise BTFStringError(f"string at offset {offset} is not NUL-terminated")
        text = self.data[local:end].decode("utf-8", "surrogateescape")
        self._cache[offset] = text
        return text

    def offsets_of(self, text: str) -> list[int]:
        """Every global offset that reads as ``text`` (a whole string, or the tail of a
        longer one, which a name may point at too), the base's first."""
        found = self.base.offsets_of(text) if self.base is not None else []
        needle = text.encode("utf-8", "surrogateescape") + b"\0"
        data = self.data
        at = data.find(needle)
        while at >= 0:
            found.append(self.start + at)
            at = data.find(needle, at + 1)
        return found

    def _own_index(self) -> dict[bytes, int]:
        if self._index is None:
            # Only string starts are indexed and the first copy wins, as libbpf does.
            index: dict[bytes, int] = {}
            pos = 0
            data = bytes(self.data)
            for piece in data.split(b"\0")[:-1]:
                index.setdefault(piece, self.start + pos)
                pos += len(piece) + 1
            self._index = index
        return self._index

    def find(self, text: str) -> int | None:
        """The global offset of ``text`` as a whole string, searching the base first."""
        if self.base is not None:
            found = self.base.find(text)
            if found is not None:
                return found
        return self._own_index().get(text.encode("utf-8", "surrogateescape"))

    def add(self, text: str) -> int:
        """Return the offset of ``text``, appending it unless it is already present."""
        found = self.find(text)
        if found is not None:
            return found
        raw = text.encode("utf-8", "surrogateescape")
        if b"\0" in raw:
            raise BTFStringError(f"string {text!r} contains a NUL byte")
        offset = self.end
        self.data += raw + b"\0"
        self._own_index()[raw] = offset
        return offset
