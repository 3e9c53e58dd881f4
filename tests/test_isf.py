"""``btfkit isf``: Volatility 3 symbol tables from BTF, checked with Volatility and against DWARF.

For the newest 6.1 and 6.12 Debian kernels the ISF is made from the image's BTF and the
-dbg package's System.map, then:

- it validates against the schema bundled with Volatility 3 (Volatility's own ``valid``);
- Volatility's Linux symbol-table class loads it, and every struct and union it serves
  (anonymous members lifted, as Volatility does) has DWARF's size and member offsets,
  bit fields included (DWARF through drgn);
- the symbols that BTF types sit at the addresses of the ELF symbol table of the -dbg
  vmlinux (not System.map's, where they came from), and ``linux_banner`` carries the
  banner of this build.
"""

from __future__ import annotations

import base64
import json
import lzma
import os
import time
from collections import Counter
from functools import cache
from pathlib import Path
from typing import Any

import drgn
import pytest

import btfkit
from btfkit.cli.app import main

from .kernel_pairs import LINES, KernelPair, pair


@cache
def made(line: str, out_dir: str) -> tuple[dict[str, Any], Path, float]:
    """The ISF of ``line``'s kernel (by the command line), its path and the seconds it took."""
    p = pair(line)
    out = Path(out_dir) / f"{p.release}.json.xz"
    start = time.perf_counter()
    assert main(["isf", str(p.image.vmlinux), "--system-map", str(p.debug.system_map), "-o", str(out)]) == 0
    seconds = time.perf_counter() - start
    return json.loads(lzma.decompress(out.read_bytes())), out, seconds


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("isf"))


def _volatility_table(path: Path) -> Any:
    # Volatility's plugins import this before the Linux symbol table class can be made.
    import volatility3.framework.symbols.linux.extensions.network  # noqa: F401
    from volatility3.framework import contexts
    from volatility3.framework.symbols.linux import LinuxKernelIntermedSymbols

    context = contexts.Context()
    # Validated by the test with Volatility's own validator just before: not twice (30 s each).
    table = LinuxKernelIntermedSymbols(context, "isf", "vmlinux", path.as_uri(), validate=False)
    context.symbol_space.append(table)
    return table


def _flat_members(t: drgn.Type, base: int = 0) -> dict[str, tuple[int, int | None]]:
    """Member name -> (bit offset, bit-field width), anonymous members' members lifted (as Volatility does)."""
    out: dict[str, tuple[int, int | None]] = {}
    for m in t.members:
        if m.name is None:
            out.update(_flat_members(m.type.unqualified(), base + m.bit_offset))
        else:
            out[m.name] = (base + m.bit_offset, m.bit_field_size)
    return out


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_isf_validates_with_volatility_schema(line: str, out_dir: str) -> None:
    from volatility3 import schemas

    document, _, seconds = made(line, out_dir)
    print(f"{pair(line).release}: ISF in {seconds:.1f} s")
    schema_path = Path(schemas.__file__).parent / f"schema-{document['metadata']['format']}.json"
    # Volatility's own check (it raises jsonschema's ValidationError on a bad file).
    assert schemas.valid(document, json.loads(schema_path.read_text()), use_cache=False)
    meta = document["metadata"]
    assert meta["format"] == "6.2.0"
    assert meta["producer"]["name"] == "btfkit" and meta["producer"]["version"] == btfkit.__version__
    assert "kind" not in meta["linux"]["types"][0]  # BTF is not one of the kinds the schema knows
    assert meta["linux"]["symbols"][0]["kind"] == "system-map"


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_isf_types_equal_dwarf(line: str, out_dir: str) -> None:
    p: KernelPair = pair(line)
    document, path, _ = made(line, out_dir)
    table = _volatility_table(path)
    defined = Counter((t.kind, t.name) for t in p.btf.types() if t.kind in (btfkit.Kind.STRUCT, btfkit.Kind.UNION))
    seen: Counter[str] = Counter()
    for name, entry in document["user_types"].items():
        kind = btfkit.Kind.STRUCT if entry["kind"] == "struct" else btfkit.Kind.UNION
        if defined[(kind, name)] != 1:
            seen["renamed, anonymous or declared only"] += 1
            continue
        try:
            theirs = p.dwarf.type(f"{entry['kind']} {name}")
        except LookupError:
            seen["local-types"] += 1  # see test_drgn.DIFFERENCES
            continue
        template = table.get_type(name)
        assert template.size == theirs.size, name
        members = {}
        for member, (offset, sub) in template.vol.members.items():
            if "start_bit" in sub.vol:
                members[member] = (offset * 8 + sub.vol["start_bit"], sub.vol["end_bit"] - sub.vol["start_bit"])
            else:
                members[member] = (offset * 8, None)
        assert members == _flat_members(theirs), name
        seen["equal"] += 1
    print(f"{p.release}: {dict(seen)}")
    assert seen["equal"] > 5000
    assert seen["local-types"] < 50


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_isf_bit_fields_fit_their_base_type(line: str, out_dir: str) -> None:
    document, _, _ = made(line, out_dir)
    sizes = {name: entry["size"] for name, entry in document["base_types"].items()}
    enum_sizes = {name: entry["size"] for name, entry in document["enums"].items()}
    count = 0
    for entry in document["user_types"].values():
        for field in entry["fields"].values():
            desc = field["type"]
            if desc["kind"] == "bitfield":
                base = desc["type"]
                size = sizes[base["name"]] if base["kind"] == "base" else enum_sizes[base["name"]]
                assert desc["bit_position"] + desc["bit_length"] <= size * 8, field
                count += 1
    assert count > 1000


@pytest.mark.corpus
@pytest.mark.parametrize("line", LINES)
def test_isf_symbols_at_elf_symtab_addresses(line: str, out_dir: str) -> None:
    """Typed symbols (BTF has a variable or function of the name) sit where the -dbg vmlinux's ELF symbol table says."""
    p = pair(line)
    document, path, _ = made(line, out_dir)
    table = _volatility_table(path)
    listed = Counter(sym.name for sym in p.system_map.symbols)
    elf: dict[str, set[int]] = {}
    for s in p.dwarf.symbols():  # one pass: drgn looks names up by scanning
        elf.setdefault(s.name, set()).add(s.address)
    checked = 0
    for name, entry in document["symbols"].items():
        if "type" not in entry or listed[name] != 1:
            continue
        assert entry["address"] in elf.get(name, ()), name
        assert table.get_symbol(name).address == entry["address"]
        checked += 1
    assert checked > 10_000
    banner = base64.b64decode(document["symbols"]["linux_banner"]["constant_data"])
    # Debian's banner names the release and the package version of this very build.
    version = p.debug.root.name.split("_")[1]
    assert banner.startswith(f"Linux version {p.release} ".encode()) and banner.endswith(b"\n")
    assert version.encode() in banner


def test_isf_command_needs_a_symbol_table(tmp_path: Path, capsys: pytest.CaptureFixture[str], sys_vmlinux: Any) -> None:
    raw = tmp_path / "vmlinux.btf"
    raw.write_bytes(Path(sys_vmlinux).read_bytes())
    assert main(["isf", str(raw), "-o", str(tmp_path / "out.json")]) == 1
    assert "--system-map FILE or --kallsyms FILE" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_isf_command_with_banner_and_kallsyms(tmp_path: Path, sys_vmlinux: Any) -> None:
    """A raw BTF, a saved kallsyms and a banner given on the command line."""
    btf = btfkit.load(sys_vmlinux)
    some = [t.name for t in btf.types() if t.kind == btfkit.Kind.FUNC][:3]
    kallsyms = tmp_path / "kallsyms"
    lines = [f"{0xFFFFFFFF81000000 + 16 * i:016x} T {name}" for i, name in enumerate(some)]
    kallsyms.write_text("\n".join([*lines, "ffffffff82000000 D linux_banner", "ffffffffc0000000 t x\t[mod]"]) + "\n")
    out = tmp_path / "out.json"
    assert main(["isf", str(sys_vmlinux), "--kallsyms", str(kallsyms), "--banner", "Linux version 1.2.3 (x)",
                 "-o", str(out)]) == 0  # fmt: skip
    document = json.loads(out.read_text())
    assert document["symbols"][some[1]] == {"address": 0xFFFFFFFF81000010, "type": {"kind": "function"}}
    assert "x" not in document["symbols"]  # a module's symbol is not vmlinux's
    assert base64.b64decode(document["symbols"]["linux_banner"]["constant_data"]) == b"Linux version 1.2.3 (x)\n"
    assert "kind" not in document["metadata"]["linux"]["symbols"][0]  # kallsyms is not a kind the schema knows
    assert os.path.getsize(out) > 1_000_000


@pytest.mark.corpus
def test_banner_from_vmlinuz_without_symbols() -> None:
    """Without an address, the banner read from the bzImage is the one at ``linux_banner`` in the ELF."""
    from btfkit.integrations.isf import banner_from_image

    p = pair(LINES[-1])
    at_symbol = banner_from_image(p.image.vmlinux, p.system_map.address("linux_banner"))
    assert at_symbol is not None and at_symbol.startswith(f"Linux version {p.release} ".encode())
    assert banner_from_image(p.image.vmlinuz) == at_symbol
