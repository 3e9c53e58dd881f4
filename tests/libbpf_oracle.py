"""libbpf (Debian's libbpf1, 1.1.2) through ctypes: the oracle for dedup tests.

Only tests and benchmarks use this; btfkit itself never links libbpf.  libbpf
1.1 exports no ``btf__new_split``, so split BTF is handed over through a
memfd and ``btf__parse_raw_split``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

_P = ctypes.c_void_p


class DedupOpts(ctypes.Structure):
    """``struct btf_dedup_opts`` of libbpf 1.1."""

    _fields_ = [("sz", ctypes.c_size_t), ("btf_ext", ctypes.c_void_p), ("force_collisions", ctypes.c_bool)]


def _load() -> ctypes.CDLL | None:
    try:
        lib = ctypes.CDLL("libbpf.so.1")
    except OSError:
        return None
    sigs: dict[str, tuple[object, list[object]]] = {
        "btf__new": (_P, [ctypes.c_char_p, ctypes.c_uint32]),
        "btf__new_empty": (_P, []),
        "btf__new_empty_split": (_P, [_P]),
        "btf__parse_raw_split": (_P, [ctypes.c_char_p, _P]),
        "btf__parse_split": (_P, [ctypes.c_char_p, _P]),
        "btf__free": (None, [_P]),
        "btf__dedup": (ctypes.c_int, [_P, ctypes.POINTER(DedupOpts)]),
        "btf__raw_data": (_P, [_P, ctypes.POINTER(ctypes.c_uint32)]),
        "btf__type_cnt": (ctypes.c_uint32, [_P]),
        "btf__add_str": (ctypes.c_int, [_P, ctypes.c_char_p]),
        "btf__add_int": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]),
        "btf__add_float": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_size_t]),
        "btf__add_ptr": (ctypes.c_int, [_P, ctypes.c_int]),
        "btf__add_array": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_int, ctypes.c_uint32]),
        "btf__add_struct": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32]),
        "btf__add_union": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32]),
        "btf__add_field": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32]),
        "btf__add_enum": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32]),
        "btf__add_enum_value": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int64]),
        "btf__add_enum64": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32, ctypes.c_bool]),
        "btf__add_enum64_value": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint64]),
        "btf__add_fwd": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "btf__add_typedef": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "btf__add_volatile": (ctypes.c_int, [_P, ctypes.c_int]),
        "btf__add_const": (ctypes.c_int, [_P, ctypes.c_int]),
        "btf__add_restrict": (ctypes.c_int, [_P, ctypes.c_int]),
        "btf__add_type_tag": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "btf__add_func": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]),
        "btf__add_func_proto": (ctypes.c_int, [_P, ctypes.c_int]),
        "btf__add_func_param": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int]),
        "btf__add_var": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]),
        "btf__add_datasec": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_uint32]),
        "btf__add_datasec_var_info": (ctypes.c_int, [_P, ctypes.c_int, ctypes.c_uint32, ctypes.c_uint32]),
        "btf__add_decl_tag": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(lib, name)
        fn.restype = res
        fn.argtypes = args
    return lib


lib = _load()


class LibbpfError(RuntimeError):
    """A libbpf call failed."""


def _lib() -> ctypes.CDLL:
    if lib is None:
        raise LibbpfError("libbpf.so.1 is not installed")
    return lib


def raw_data(btf: int) -> bytes:
    """``btf__raw_data`` of a libbpf ``struct btf *``."""
    size = ctypes.c_uint32()
    ptr = _lib().btf__raw_data(btf, ctypes.byref(size))
    if not ptr:
        raise LibbpfError("btf__raw_data failed")
    return ctypes.string_at(ptr, size.value)


def new(raw: bytes) -> int:
    """A libbpf BTF parsed from standalone raw bytes (caller frees)."""
    btf = _lib().btf__new(raw, len(raw))
    if not btf:
        raise LibbpfError("btf__new failed")
    return int(btf)


def new_split(raw: bytes, base: int) -> int:
    """A libbpf split BTF parsed from raw bytes on top of ``base`` (caller frees)."""
    fd = os.memfd_create("btf")
    try:
        os.write(fd, raw)
        btf = _lib().btf__parse_raw_split(f"/proc/self/fd/{fd}".encode(), base)
    finally:
        os.close(fd)
    if not btf:
        raise LibbpfError("btf__parse_raw_split failed")
    return int(btf)


def free(btf: int | None) -> None:
    """``btf__free``."""
    if btf:
        _lib().btf__free(btf)


@contextmanager
def parsed(raw: bytes, base: int | None = None) -> Iterator[int]:
    """A libbpf BTF for the duration of a ``with`` block."""
    btf = new(raw) if base is None else new_split(raw, base)
    try:
        yield btf
    finally:
        free(btf)


def dedup_in_place(btf: int, force_collisions: bool = False) -> None:
    """``btf__dedup(btf, opts)``."""
    opts = DedupOpts(ctypes.sizeof(DedupOpts), None, force_collisions)
    err = _lib().btf__dedup(btf, ctypes.byref(opts))
    if err:
        raise LibbpfError(f"btf__dedup failed: {err}")


def dedup(raw: bytes, base_raw: bytes | None = None, force_collisions: bool = False) -> bytes:
    """libbpf's dedup of raw BTF (split on ``base_raw`` if given); the resulting raw bytes."""
    if base_raw is None:
        with parsed(raw) as btf:
            dedup_in_place(btf, force_collisions)
            return raw_data(btf)
    with parsed(base_raw) as base, parsed(raw, base) as btf:
        dedup_in_place(btf, force_collisions)
        return raw_data(btf)


class Builder:
    """libbpf's ``btf__add_*`` API with btfkit Builder-like method names; raises on errors."""

    def __init__(self, base: int | None = None):
        self.lib = _lib()
        self.btf = int(self.lib.btf__new_empty_split(base) if base else self.lib.btf__new_empty())

    def close(self) -> None:
        free(self.btf)
        self.btf = 0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        fn = getattr(self.lib, f"btf__{name}")

        def call(*args: object) -> int:
            conv = [a.encode() if isinstance(a, str) else a for a in args]
            r = int(fn(self.btf, *conv))
            if r < 0:
                raise LibbpfError(f"btf__{name}{args}: {r}")
            return r

        return call

    def raw(self) -> bytes:
        return raw_data(self.btf)

    def dedup(self, force_collisions: bool = False) -> bytes:
        dedup_in_place(self.btf, force_collisions)
        return raw_data(self.btf)
