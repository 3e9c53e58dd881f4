"""bpftool's JSON dump, byte for byte (``bpftool -j btf dump file F``, and ``-p``).

The document is ``{"types":[...]}`` with one object per type, its fields in
bpftool's order and named as in the raw dump (see :func:`btfkit.dump_raw`,
whose machinery this reuses with JSON templates).  bpftool 7.1's JSON writer
is reproduced exactly, quirks included:

* strings are escaped for ``\\t \\n \\r \\f \\b`` and ``"`` only; a backslash
  comes out as ``\\n`` (a bug of that writer); other control characters and
  non-ASCII bytes are copied as they are;
* an unsigned ENUM's value is printed after widening it as a *signed* 32-bit
  number, so 0xffffffff shows as 18446744073709551615; signed ENUM and ENUM64
  values print signed, unsigned ENUM64 values unsigned;
* DATASEC entries carry no ``(VAR 'name')`` note.

Pretty output (``-p``) puts every field on its own line, indented by four
spaces per level, with arrays of objects opened as ``[{`` and joined as ``},{``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO

from ..format.btf import BTF
from ..format.kinds import Kind
from ..outputs.raw import Style, records, write_records

__all__ = ["dump_json", "write_json"]

_ESCAPES = (  # backslash first: the later replacements add backslashes of their own
    (b"\\", b"\\n"), (b"\t", b"\\t"), (b"\n", b"\\n"), (b"\r", b"\\r"), (b"\f", b"\\f"),
    (b"\b", b"\\b"), (b'"', b'\\"'),
)  # fmt: skip


def _escape(text: bytes) -> bytes:
    """bpftool 7.1's JSON string escaping (``jsonw_puts``)."""
    for raw, escaped in _ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


# Field lists per kind after "id", "kind" and "name": (key, placeholder).
_N, _S = b"%d", b'"%s"'
_HEADS: dict[int, list[tuple[bytes, bytes]]] = {
    Kind.INT: [(b"size", _N), (b"bits_offset", _N), (b"nr_bits", _N), (b"encoding", _S)],
    **{k: [(b"type_id", _N)]
       for k in (Kind.PTR, Kind.CONST, Kind.VOLATILE, Kind.RESTRICT, Kind.TYPEDEF, Kind.TYPE_TAG)},
    Kind.ARRAY: [(b"type_id", _N), (b"index_type_id", _N), (b"nr_elems", _N)],
    Kind.STRUCT: [(b"size", _N), (b"vlen", _N)],
    Kind.UNION: [(b"size", _N), (b"vlen", _N)],
    Kind.ENUM: [(b"encoding", _S), (b"size", _N), (b"vlen", _N)],
    Kind.ENUM64: [(b"encoding", _S), (b"size", _N), (b"vlen", _N)],
    Kind.FWD: [(b"fwd_kind", _S)],
    Kind.FUNC: [(b"type_id", _N), (b"linkage", _S)],
    Kind.FUNC_PROTO: [(b"ret_type_id", _N), (b"vlen", _N)],
    Kind.VAR: [(b"type_id", _N), (b"linkage", _S)],
    Kind.DATASEC: [(b"size", _N), (b"vlen", _N)],
    Kind.FLOAT: [(b"size", _N)],
    Kind.DECL_TAG: [(b"type_id", _N), (b"component_idx", _N)],
}  # fmt: skip
# Kinds with elements: the array's key and each element's fields.  A member's
# optional "bitfield_size" is not a placeholder but a suffix from Style.bitfield.
_ELEMS: dict[int, tuple[bytes, list[tuple[bytes, bytes]]]] = {
    Kind.STRUCT: (b"members", [(b"name", _S), (b"type_id", _N), (b"bits_offset", _N)]),
    Kind.UNION: (b"members", [(b"name", _S), (b"type_id", _N), (b"bits_offset", _N)]),
    Kind.ENUM: (b"values", [(b"name", _S), (b"val", _N)]),
    Kind.ENUM64: (b"values", [(b"name", _S), (b"val", _N)]),
    Kind.FUNC_PROTO: (b"params", [(b"name", _S), (b"type_id", _N)]),
    Kind.DATASEC: (b"vars", [(b"type_id", _N), (b"offset", _N), (b"size", _N)]),
}


def _style(pretty: bool) -> Style:
    """Templates following the JSON writer's rules: a type object sits at depth 3
    (document object, "types" array, type object), its elements' fields at depth 5."""

    def eol(depth: int) -> bytes:
        return b"\n" + b"    " * depth if pretty else b""

    colon = b": " if pretty else b":"

    def fields(items: list[tuple[bytes, bytes]], depth: int) -> bytes:
        return b",".join(eol(depth) + b'"%s"%s%s' % (key, colon, value) for key, value in items)

    def head(label: bytes, items: list[tuple[bytes, bytes]]) -> bytes:
        common = [(b"id", _N), (b"kind", b'"%s"' % label), (b"name", _S)]
        return b"{" + fields(common + items, 3)

    close = eol(2) + b"}"
    heads, elems = {}, {}
    for kind, items in _HEADS.items():
        text = head(Kind(kind).name.encode(), items)
        if kind in _ELEMS:
            key, elem_items = _ELEMS[kind]
            text += b",%s[" % fields([(key, b"")], 3)
            body = b"{" + fields(elem_items, 5)
            if kind in (Kind.STRUCT, Kind.UNION):
                body += b"%s"
            for kflag in (False, True):
                elems[kind, kflag] = body + eol(4) + b"}"
        else:
            text += close
        heads[kind] = text
    return Style(
        heads=heads,
        elems=elems,
        elem_sep=b",",
        tails=(b"]" + close, eol(3) + b"]" + close),
        unknown=head(b"%s", []) + close,
        bitfield=(
            b"",
            *(b",%s%d" % (eol(5) + b'"bitfield_size"' + colon, n) for n in range(1, 256)),
        ),
        json=True,
        escape=_escape,
    )


_STYLES = {False: _style(pretty=False), True: _style(pretty=True)}


def _document(pretty: bool, empty: bool) -> tuple[bytes, bytes]:
    """The text around the type objects: ``{"types":[`` ... ``]}`` and the final newline."""
    if not pretty:
        return b'{"types":[', b"]}\n"
    return b'{\n    "types": [', b"]\n}\n" if empty else b"\n    ]\n}\n"


def dump_json(btf: BTF, root_ids: Sequence[int] | None = None, *, pretty: bool = False) -> bytes:
    """bpftool's JSON dump (``-j``, or ``-p`` with ``pretty``) of ``btf``'s own types or ``root_ids``."""
    parts = records(btf, _STYLES[pretty], root_ids)
    start, end = _document(pretty, not parts)
    return start + b",".join(parts) + end


def write_json(
    btf: BTF, out: IO[bytes], root_ids: Sequence[int] | None = None, *, pretty: bool = False
) -> None:
    """Write bpftool's JSON dump of ``btf`` (or of ``root_ids``) to a binary stream."""
    parts = records(btf, _STYLES[pretty], root_ids)
    start, end = _document(pretty, not parts)
    out.write(start)
    write_records(out, parts, b",")
    out.write(end)


