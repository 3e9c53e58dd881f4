"""libbpf 1.5 (built from Debian's linux-source-6.12) through ctypes: the oracle for distill and relocate.

Only tests and benchmarks use this.  Two libbpf traits shape the wrapper:

- ``btf__relocate`` rewrites the split BTF in place and leaves it half rewritten when it
  fails, so every relocation gets a fresh object;
- ``btf__raw_data`` caches its bytes, so distilled bytes are parsed afresh before they are
  relocated.

libbpf's warnings (which name the type a relocation failed on) are captured through
``libbpf_set_print``: the callback formats them with the C library's ``vsnprintf``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .kernel_source import libbpf_path

_P = ctypes.c_void_p
_PRINT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
_libc = ctypes.CDLL(ctypes.util.find_library("c"))
_libc.vsnprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p]
_messages: list[str] = []


def _print(level: int, fmt: bytes, args: int) -> int:
    buf = ctypes.create_string_buffer(4096)
    _libc.vsnprintf(buf, len(buf), fmt, args)
    if level == 0:  # LIBBPF_WARN
        _messages.append(buf.value.decode(errors="replace").strip())
    return 0


_print_cb = _PRINT_FN(_print)  # kept alive for as long as libbpf may call it


class LibbpfError(RuntimeError):
    """A libbpf call failed; ``errno`` is its negative error code, ``message`` its warning."""

    def __init__(self, what: str, errno: int, message: str):
        super().__init__(f"{what} failed ({errno}): {message}")
        self.errno, self.message = errno, message


@cache
def lib() -> ctypes.CDLL:
    """libbpf 1.5, loaded once (built on first use)."""
    so = ctypes.CDLL(str(libbpf_path()), use_errno=True)
    sigs: dict[str, tuple[object, list[object]]] = {
        "btf__new": (_P, [ctypes.c_char_p, ctypes.c_uint32]),
        "btf__new_split": (_P, [ctypes.c_char_p, ctypes.c_uint32, _P]),
        "btf__parse_split": (_P, [ctypes.c_char_p, _P]),
        "btf__parse": (_P, [ctypes.c_char_p, ctypes.POINTER(_P)]),
        "btf__base_btf": (_P, [_P]),
        "btf__free": (None, [_P]),
        "btf__type_cnt": (ctypes.c_uint32, [_P]),
        "btf__raw_data": (_P, [_P, ctypes.POINTER(ctypes.c_uint32)]),
        "btf__distill_base": (ctypes.c_int, [_P, ctypes.POINTER(_P), ctypes.POINTER(_P)]),
        "btf__relocate": (ctypes.c_int, [_P, _P]),
        "btf__dedup": (ctypes.c_int, [_P, _P]),
        "libbpf_set_print": (_P, [_PRINT_FN]),
    }
    for name, (res, args) in sigs.items():
        fn = getattr(so, name)
        fn.restype = res
        fn.argtypes = args
    so.libbpf_set_print(_print_cb)
    return so


def _check(ptr: int | None, what: str) -> int:
    if not ptr:
        err = ctypes.get_errno()
        raise LibbpfError(what, -err, "; ".join(_messages))
    return int(ptr)


def raw_data(btf: int) -> bytes:
    """``btf__raw_data``."""
    size = ctypes.c_uint32()
    return ctypes.string_at(_check(lib().btf__raw_data(btf, ctypes.byref(size)), "btf__raw_data"), size.value)


@contextmanager
def parsed(raw: bytes, base: int | None = None) -> Iterator[int]:
    """A libbpf BTF of raw bytes (split on ``base`` if given) for a ``with`` block."""
    _messages.clear()
    btf = lib().btf__new(raw, len(raw)) if base is None else lib().btf__new_split(raw, len(raw), base)
    btf = _check(btf, "btf__new")
    try:
        yield btf
    finally:
        lib().btf__free(btf)


@contextmanager
def parsed_file(path: str | Path, base: int | None = None) -> Iterator[int]:
    """``btf__parse_split(path, base)`` (an ELF file or raw BTF) for a ``with`` block."""
    _messages.clear()
    btf = _check(lib().btf__parse_split(os.fsencode(path), base), "btf__parse_split")
    try:
        yield btf
    finally:
        lib().btf__free(btf)


def distill(module: bytes | Path, base: int) -> tuple[bytes, bytes]:
    """``btf__distill_base`` of split BTF ``module`` (raw bytes, or an ELF file libbpf reads)
    on ``base``: (distilled base, new split)."""
    with parsed_file(module, base) if isinstance(module, Path) else parsed(module, base) as src:
        return _distill(src)


def _distill(src: int) -> tuple[bytes, bytes]:
    new_base, new_split = _P(), _P()
    err = lib().btf__distill_base(src, ctypes.byref(new_base), ctypes.byref(new_split))
    if err:
        raise LibbpfError("btf__distill_base", err, "; ".join(_messages))
    try:
        return raw_data(new_base.value or 0), raw_data(new_split.value or 0)
    finally:
        lib().btf__free(new_split)
        lib().btf__free(new_base)


def relocate(split: bytes, distilled: bytes, base: int) -> bytes:
    """``btf__relocate`` of raw ``split`` (on the raw ``distilled`` base) onto ``base``: the raw bytes."""
    with parsed(distilled) as dist, parsed(split, dist) as btf:
        err = lib().btf__relocate(btf, base)
        if err:
            raise LibbpfError("btf__relocate", err, "; ".join(_messages))
        return raw_data(btf)


def dedup(split: bytes, base: int) -> bytes:
    """``btf__dedup`` of raw ``split`` on ``base`` (default options): the raw bytes."""
    with parsed(split, base) as btf:
        err = lib().btf__dedup(btf, None)
        if err:
            raise LibbpfError("btf__dedup", err, "; ".join(_messages))
        return raw_data(btf)


@dataclass(frozen=True)
class ElfSplit:
    """What ``btf__parse_split`` made of an ELF file: the split's raw bytes and its base's type count."""

    raw: bytes
    base_types: int


def parse_split(path: str | Path, base: int | None) -> ElfSplit:
    """``btf__parse_split(path, base)``: an ELF with ``.BTF.base`` is relocated onto ``base``."""
    _messages.clear()
    ctypes.set_errno(0)
    btf = _check(lib().btf__parse_split(os.fsencode(path), base), "btf__parse_split")
    try:
        return ElfSplit(raw_data(btf), int(lib().btf__type_cnt(lib().btf__base_btf(btf))))
    finally:
        lib().btf__free(btf)
