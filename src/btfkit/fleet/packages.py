"""Kernel packages read without unpacking them: Debian ``.deb`` files.

A ``.deb`` is an ``ar`` archive of ``control.tar.*`` (the package's metadata) and
``data.tar.*`` (its files).  :func:`read_control` gives the metadata;
:func:`kernel_files` streams the data once, handing each kernel image and module
file to a callback, so a 35 MB package is never unpacked to disk.
"""

from __future__ import annotations

import io
import os
import re
import tarfile
import zlib
from collections.abc import Callable, Iterator
from typing import IO

from ..errors import ELFError

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60


def _ar_members(data: bytes, name: str) -> Iterator[tuple[str, memoryview]]:
    """(name, contents) of each member of an ``ar`` archive."""
    if not data.startswith(_AR_MAGIC):
        raise ELFError(f"{name}: not a Debian package (no ar header)")
    view = memoryview(data)
    pos = len(_AR_MAGIC)
    while pos + _AR_HEADER <= len(data):
        header = data[pos : pos + _AR_HEADER]
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise ELFError(f"{name}: corrupt ar member header at offset {pos}") from None
        start = pos + _AR_HEADER
        if start + size > len(data):
            raise ELFError(f"{name}: ar member {member} runs past the end of the file")
        yield member, view[start : start + size]
        pos = start + size + (size & 1)  # members are 2-byte aligned


def _open_tar(member: str, payload: memoryview, name: str) -> tarfile.TarFile:
    """A streaming reader of a ``.tar``, ``.tar.xz``, ``.tar.gz`` or ``.tar.zst`` member."""
    raw: IO[bytes] = io.BytesIO(payload)
    if member.endswith(".zst"):
        import zstandard  # noqa: PLC0415 (only zstd packages need it)

        raw = zstandard.ZstdDecompressor().stream_reader(raw)
        return tarfile.open(fileobj=raw, mode="r|")
    modes = {".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2", ".tar": "r|"}
    mode = next((m for suffix, m in modes.items() if member.endswith(suffix)), None)
    if mode is None:
        raise ELFError(f"{name}: {member}: unknown compression")
    return tarfile.open(fileobj=raw, mode=mode)  # type: ignore[call-overload,no-any-return]


def _member(data: bytes, prefix: str, name: str) -> tuple[str, memoryview]:
    for member, payload in _ar_members(data, name):
        if member.startswith(prefix):
            return member, payload
    raise ELFError(f"{name}: no {prefix}* member")


def read_control(data: bytes, name: str) -> dict[str, str]:
    """The fields of a package's ``control`` file (``Package``, ``Version``, ``Architecture``...)."""
    member, payload = _member(data, "control.tar", name)
    try:
        with _open_tar(member, payload, name) as tar:
            for info in tar:
                if info.name.lstrip("./") == "control":
                    f = tar.extractfile(info)
                    text = f.read().decode("utf-8", "replace") if f else ""
                    break
            else:
                raise ELFError(f"{name}: no control file")
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ELFError(f"{name}: unreadable control archive: {exc}") from exc
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, value = line.split(":", 1)
            fields[key] = value.strip()
    return fields


def kernel_files(data: bytes, name: str, want: Callable[[str], bool], take: Callable[[str, bytes], None]) -> None:
    """Stream a package's files: ``take(path, contents)`` for each regular file ``want(path)`` accepts."""
    member, payload = _member(data, "data.tar", name)
    try:
        with _open_tar(member, payload, name) as tar:
            for info in tar:
                path = os.path.normpath(info.name.lstrip("./")) if info.name not in (".", "./") else ""
                if info.isfile() and want(path):
                    f = tar.extractfile(info)
                    if f is not None:
                        take(path, f.read())
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ELFError(f"{name}: unreadable data archive: {exc}") from exc


#: Debian's release codenames, as a changelog entry names its distribution, and their numbers.
DEBIAN_RELEASES = {"buster": "10", "bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14", "duke": "15"}


def debian_release(changelog_gz: bytes) -> str | None:
    """The number of the Debian release a package was built for, from the first entry of its
    ``changelog.Debian.gz`` (``linux (6.1.192-3) bookworm-security; ...`` gives ``"12"``).

    Only the head of the (often megabytes long) changelog is inflated.
    """
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(changelog_gz, 512)
    except zlib.error:
        return None
    found = re.match(rb"\S+ \([^)]*\) ([a-z]+)", head)
    return DEBIAN_RELEASES.get(found[1].decode()) if found else None
