"""What btfkit does to the files it writes: devices, FIFOs, links, owners, modes, its own inputs, signals.

The oracle is the file system itself (``os.stat``: type, inode, mode, owner)
and the bytes a plain write of the same command produces; the commands run as
real processes, signalled for real.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from btfkit import load, to_bytes
from btfkit.format.build import Builder
from btfkit.format.writer import write_atomic

from .conftest import Corpus, require, tool

BTFKIT = [sys.executable, "-m", "btfkit"]
DATA = Path(__file__).parent / "data" / "c"


def run(args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BTFKIT, *args], capture_output=True, text=True, check=False, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


def one_error(r: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The single ``btfkit: error:`` line of a failed run (no traceback)."""
    assert r.returncode == status, (r.returncode, r.stderr)
    assert r.stderr.startswith("btfkit: error: ") and r.stderr.count("\n") == 1, r.stderr
    return r.stderr


@pytest.fixture
def small(tmp_path: Path) -> Path:
    """A small raw BTF with a duplicate, so ``dedup`` has work to do."""
    b = Builder()
    i = b.add_int("int", 4)
    for _ in range(2):
        s = b.add_struct("pair", 8)
        b.add_member("a", i, 0)
        b.add_member("b", i, 32)
        b.add_ptr(s)
    path = tmp_path / "small.btf"
    path.write_bytes(to_bytes(b.btf))
    return path


@pytest.fixture
def expected(small: Path, tmp_path: Path) -> bytes:
    """What ``dedup small.btf`` writes to a new plain file."""
    out = tmp_path / "plain.btf"
    r = run(["dedup", str(small), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    out.unlink()
    return data


def test_fifo_output_stays_a_fifo(small: Path, expected: bytes, tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    r = run(["dedup", str(small), "-o", str(fifo)])
    reader.join(30)
    assert r.returncode == 0, r.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert got == [expected]


def test_device_output_stays_a_device(small: Path, tmp_path: Path) -> None:
    require(os.geteuid() == 0, "making a device node needs root")
    null = os.stat("/dev/null")
    dev = tmp_path / "null"
    os.mknod(dev, stat.S_IFCHR | 0o666, null.st_rdev)  # a private copy of /dev/null
    r = run(["dedup", str(small), "-o", str(dev)])
    assert r.returncode == 0, r.stderr
    st = dev.stat()
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == null.st_rdev
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_output_through_a_symlink(small: Path, expected: bytes, tmp_path: Path) -> None:
    target = tmp_path / "real.btf"
    target.write_bytes(b"old")
    link = tmp_path / "link.btf"
    link.symlink_to(target.name)
    r = run(["dedup", str(small), "-o", str(link)])
    assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == target.name
    assert target.read_bytes() == expected


def test_in_place_through_a_symlink(tmp_path: Path) -> None:
    obj = tmp_path / "t.o"
    subprocess.run([tool("gcc"), "-g", "-c", str(DATA / "enc_types.c"), "-o", str(obj)], check=True)
    link = tmp_path / "link.o"
    link.symlink_to(obj.name)
    plain = tmp_path / "plain.o"
    plain.write_bytes(obj.read_bytes())
    for path in (link, plain):
        r = run(["encode", "--no-base", "--in-place", str(path)])
        assert r.returncode == 0, r.stderr
    assert link.is_symlink() and os.readlink(link) == obj.name
    assert obj.read_bytes() == plain.read_bytes()


def test_hard_links_stay_one_file(small: Path, expected: bytes, tmp_path: Path) -> None:
    out = tmp_path / "out.btf"
    out.write_bytes(b"old")
    other = tmp_path / "other.btf"
    os.link(out, other)
    ino = out.stat().st_ino
    r = run(["dedup", str(small), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert out.stat().st_ino == ino and out.stat().st_nlink == 2
    assert other.read_bytes() == expected


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_new_file_mode_follows_the_umask(small: Path, tmp_path: Path, umask: int) -> None:
    out = tmp_path / "out.btf"
    r = run(["dedup", str(small), "-o", str(out)], umask=umask)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_replaced_file_keeps_mode_owner_and_group(small: Path, tmp_path: Path) -> None:
    require(os.geteuid() == 0, "giving a file to another user needs root")
    out = tmp_path / "out.btf"
    out.write_bytes(b"old")
    os.chown(out, 65534, 65534)
    os.chmod(out, 0o4755)  # after chown, which clears setuid
    r = run(["dedup", str(small), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    st = out.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (65534, 65534, 0o4755)


def test_setuid_dropped_when_owner_cannot_be_kept(small: Path) -> None:
    """Unprivileged, the new file cannot be given to root: it must not stay setuid."""
    require(os.geteuid() == 0, "a file owned by another user than the writer needs root to set up")
    with tempfile.TemporaryDirectory() as d:  # pytest's tmp_path is not reachable for another user
        folder = Path(d)
        folder.chmod(0o777)
        out = folder / "out.btf"
        out.write_bytes(b"old")
        os.chmod(out, 0o6755)  # root's, setuid and setgid
        src = folder / "in.btf"
        src.write_bytes(small.read_bytes())
        src.chmod(0o644)
        r = run(["dedup", str(src), "-o", str(out)], user=65534, group=65534, extra_groups=[])
        assert r.returncode == 0, r.stderr
        st = out.stat()
        assert st.st_uid == 65534 and stat.S_IMODE(st.st_mode) == 0o755


def test_write_atomic_library_keeps_mode(tmp_path: Path) -> None:
    out = tmp_path / "f"
    out.write_bytes(b"old")
    out.chmod(0o640)
    write_atomic(out, b"new")
    assert out.read_bytes() == b"new" and stat.S_IMODE(out.stat().st_mode) == 0o640


def _obj(tmp_path: Path) -> Path:
    obj = tmp_path / "x.o"
    subprocess.run([tool("gcc"), "-g", "-c", str(DATA / "enc_types.c"), "-o", str(obj)], check=True)
    return obj


@pytest.mark.parametrize("case", ["encode", "merge-base", "merge-input", "dedup-hardlink", "link-other-path"])
def test_output_is_an_input(case: str, small: Path, tmp_path: Path) -> None:
    if case == "encode":
        victim = _obj(tmp_path)
        args = ["encode", "--no-base", str(victim), "-o", str(victim)]
    elif case == "link-other-path":
        victim = tmp_path / "b.o"
        subprocess.run([tool("gcc"), "-gbtf", "-c", str(DATA / "enc_link_b.c"), "-o", str(victim)], check=True)
        args = ["link", str(victim), "-o", str(tmp_path / "." / ".." / tmp_path.name / "b.o")]
    elif case.startswith("merge"):
        split = tmp_path / "split.btf"
        b = Builder(base=load(small))
        b.add_ptr(1)
        split.write_bytes(to_bytes(b.btf))
        victim = small if case == "merge-base" else split
        args = ["merge", "-B", str(small), str(split), "-o", str(victim)]
    else:
        victim = small
        alias = tmp_path / "alias.btf"
        os.link(small, alias)
        args = ["dedup", str(small), "-o", str(alias)]
    before = victim.read_bytes()
    err = one_error(run(args))
    assert "also an input" in err
    assert victim.read_bytes() == before


def test_errors_name_the_users_path(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "missing" / "out.btf"
    err = one_error(run(["dedup", str(small), "-o", str(out)]))
    assert str(out) in err and ".tmp" not in err


def _stalled(args: list[str], folder: Path, name: str) -> subprocess.Popen[str]:
    """A btfkit process stopped halfway through writing ``folder/name``."""
    env = {**os.environ, "BTFKIT_TEST_WRITE_STALL": "60"}
    proc = subprocess.Popen([*BTFKIT, *args], env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not [p for p in folder.glob(f".{name}.*.tmp") if p.stat().st_size]:
        assert proc.poll() is None, "btfkit ended before writing"
        assert time.monotonic() < deadline, "no temporary file appeared"
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_signal_mid_write(sig: signal.Signals, small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.btf"
    out.write_bytes(b"old")
    proc = _stalled(["dedup", str(small), "-o", str(out)], tmp_path, "out.btf")
    try:
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    if sig == signal.SIGINT:  # Ctrl-C: one line, the shell's status for it
        assert proc.returncode == 130 and err == "btfkit: error: interrupted\n", err
    else:  # dies of the signal, as unhandled, but tidily
        assert proc.returncode == -sig and err == "", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.btf", "small.btf"]
    assert out.read_bytes() == b"old"


def test_stale_temporaries_of_dead_writers_are_removed(small: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.btf"
    child = subprocess.Popen(["true"])
    child.wait()
    stale = tmp_path / f".out.btf.{child.pid}.0badf00d.tmp"
    alive = tmp_path / f".out.btf.{os.getpid()}.0badf00d.tmp"
    unrelated = tmp_path / ".out.btf.notours.tmp"
    for p in (stale, alive, unrelated):
        p.write_bytes(b"x")
    r = run(["dedup", str(small), "-o", str(out)])
    assert r.returncode == 0, r.stderr
    assert not stale.exists() and alive.exists() and unrelated.exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_module_tree(sig: signal.Signals, corpus: Corpus, tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group, workers included: one line, exit 130.  SIGTERM
    to the parent alone: it dies of it, and takes its workers along.  Neither leaves temporaries."""
    out = tmp_path / "out"
    proc = subprocess.Popen([*BTFKIT, "dedup", "-j", "2", "-B", str(corpus.vmlinux), str(corpus.root / "modules"),
                             "-o", str(out)], stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (out.exists() and any(out.rglob("*.btf"))):  # the workers are writing
            assert proc.poll() is None, "dedup ended before writing"
            assert time.monotonic() < deadline, "no output appeared"
            time.sleep(0.05)
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # as the terminal does
        else:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    if sig == signal.SIGINT:
        assert proc.returncode == 130 and err == "btfkit: error: interrupted\n", err
    else:
        assert proc.returncode == -sig and err == "", err
    # No worker outlives it (they share its session), and no temporary is left.
    time.sleep(0.5)
    alive = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True, check=False)
    assert alive.stdout == "", alive.stdout
    assert [p for p in out.rglob("*.tmp")] == []
