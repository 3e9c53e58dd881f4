"""The command line for people and scripts: --version, examples in every --help, units, --json,
progress bars.

Oracles: the installed package's metadata (version), the files themselves (sizes on disk),
bpftool 7.1 (type counts), and btfkit's own written outputs (the report's split sizes are
the sizes of the files ``dedup`` writes).
"""

from __future__ import annotations

import argparse
import fcntl
import importlib.metadata
import json
import os
import shlex
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest

from btfkit.cli import main
from btfkit.cli.app import parser
from btfkit.cli.common import size_text

from .conftest import Corpus, tool

BTFKIT = [sys.executable, "-m", "btfkit"]


def _btfkit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BTFKIT, *map(str, args)], capture_output=True, text=True, check=False)


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_version() -> None:
    r = _btfkit("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"btfkit {importlib.metadata.version('btfkit')}"


def _examples(help_text: str) -> list[str]:
    _head, sep, tail = help_text.rpartition("\nexamples:\n")
    assert sep, "no examples at the end of the help"
    return [line.strip() for line in tail.splitlines() if line.strip()]


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_help_ends_with_examples_that_parse(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    examples = _examples(capsys.readouterr().out)
    assert 2 <= len(examples) <= 3, examples
    for example in examples:
        words = shlex.split(example.replace("$(uname -r)", os.uname().release))
        words = words[: words.index(">")] if ">" in words else words
        assert words[:2] == ["btfkit", command]
        args = parser().parse_args(words[1:])  # exits (and fails the test) on a wrong shape
        assert args.command == command


def _count_options() -> list[tuple[str, str]]:
    """(command, option) for every option that takes a number of processes."""
    return [
        (command, action.option_strings[-1])
        for command, sub in sorted(_subcommands().items())
        for action in sub._actions
        if action.dest in ("jobs", "workers") and action.option_strings
    ]


@pytest.mark.parametrize(("command", "option"), _count_options())
def test_process_counts_are_checked(command: str, option: str, capsys: pytest.CaptureFixture[str]) -> None:
    """0, negative or non-numeric worker counts are a usage error naming the option, not a hang or a traceback."""
    for bad in ("0", "-3", "two"):
        with pytest.raises(SystemExit) as exit_:
            parser().parse_args([command, f"{option}={bad}", "x"])
        assert exit_.value.code == 2
        assert option in capsys.readouterr().err


def test_examples_on_this_machine_run(sys_vmlinux: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Examples whose every path exists here run and succeed (the vmlinux ones, at least; the
    vmlinux.h one is the README's first command, run by test_readme.py)."""
    ran = 0
    for command in ("info", "validate", "dump"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        for example in _examples(capsys.readouterr().out):
            words = shlex.split(example)
            words = words[: words.index(">")] if ">" in words else words
            files = [w for w in words[2:] if not w.startswith("-") and ("/" in w or "." in w)]
            if all(os.path.exists(w) for w in files) and "$(uname" not in example and ">" not in example:
                assert main(words[1:]) == 0, example
                capsys.readouterr()
                ran += 1
    assert ran >= 3


def test_size_text() -> None:
    assert size_text(0) == "0 bytes"
    assert size_text(1023) == "1023 bytes"
    assert size_text(1024) == "1.0 KiB (1,024 bytes)"
    assert size_text(5_481_434) == "5.2 MiB (5,481,434 bytes)"


def test_info_units_and_json(sys_vmlinux: Path) -> None:
    text = _btfkit("info", sys_vmlinux)
    size = sys_vmlinux.stat().st_size  # raw BTF: the file is the BTF
    assert f"size: {size_text(size)} as raw BTF" in text.stdout and "MiB (" in text.stdout
    data = json.loads(_btfkit("info", sys_vmlinux, "--json").stdout)
    assert data["size_bytes"] == size
    dumped = subprocess.run([tool("bpftool"), "btf", "dump", "file", str(sys_vmlinux)], capture_output=True,
                            text=True, check=True).stdout  # fmt: skip
    n_types = sum(1 for line in dumped.splitlines() if line.startswith("["))
    assert data["types"] == n_types and data["last_id"] == n_types and data["first_id"] == 1
    assert sum(data["kinds"].values()) == n_types
    assert data["base_types"] is None


def test_dedup_report_json_and_progress(corpus: Corpus, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    tree.mkdir()
    for module in sorted((corpus.root / "modules/drivers/net").glob("*.ko"))[:6]:
        (tree / module.name).symlink_to(module)
    n = len(list(tree.iterdir()))
    report = _btfkit("dedup", "--report", "--json", "-B", corpus.vmlinux, tree, "--progress")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert len(data["modules"]) == n and not data["errors"]
    assert f"{n}/{n}" in report.stderr and "100%" in report.stderr  # the bar, forced on
    out = tmp_path / "out"
    written = _btfkit("dedup", "-B", corpus.vmlinux, tree, "-o", out, "--json")
    assert written.returncode == 0 and written.stderr == ""  # no terminal, no bar
    for entry in data["modules"]:
        assert entry["bytes_split"] == (out / f"{entry['module']}.btf").stat().st_size
    assert data["total"]["bytes_split"] == sum(e["bytes_split"] for e in data["modules"])
    assert json.loads(written.stdout)["total"]["bytes_out"] == data["total"]["bytes_split"]
    text = _btfkit("dedup", "--report", "-B", corpus.vmlinux, tree).stdout
    assert f"base {size_text(data['base']['bytes'])}" in text


def test_single_dedup_shows_its_passes_on_a_terminal(sys_vmlinux: Path, tmp_path: Path) -> None:
    """One big deduplication (a vmlinux: a second or more) shows a bar of its passes on a terminal."""
    from btfkit.transforms.dedup import PASSES

    shown = _on_a_terminal(["dedup", str(sys_vmlinux), "-o", str(tmp_path / "out.btf"), "--json"])
    n = len(PASSES)
    assert f"{n}/{n}".encode() in shown and b"passes" in shown
    quiet = _btfkit("dedup", sys_vmlinux, "-o", tmp_path / "again.btf")
    assert quiet.returncode == 0 and quiet.stderr == ""  # no terminal, no bar


def _on_a_terminal(args: list[str]) -> bytes:
    """Run btfkit with stderr a 24x100 terminal, as when a person runs it; what the terminal showed."""
    primary, secondary = os.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("4H", 24, 100, 0, 0))  # not 0x0
    try:
        r = subprocess.run([*BTFKIT, *args], stderr=secondary, stdout=subprocess.PIPE, check=False)
        os.close(secondary)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the writer side is closed
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert r.returncode == 0, shown
    return shown


def test_encode_of_many_objects_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    source = Path(__file__).parent / "data" / "c" / "enc_types.c"
    objs = []
    for i in range(3):
        objs.append(tmp_path / f"o{i}.o")
        subprocess.run([tool("gcc"), "-g", "-c", str(source), "-o", str(objs[-1])], check=True)
    shown = _on_a_terminal(["encode", "--in-place", *map(str, objs)])
    assert b"3/3" in shown and b"objects" in shown
