"""``btfkit archive`` over the Debian archive's 6.12 cloud kernels, locally and on a Dask cluster.

Oracles independent of btfkit: the kernel's ``.BTF`` section as pyelftools reads it
from the ``vmlinux`` that the real decompressor unpacks from the bzImage; each shipped
module's ``.BTF`` as pyelftools reads it from the ``.ko`` (inflated by ``xz``); bpftool
7.1 reading every archive member, and dumping module BTF from the archive (split over
the archived vmlinux) and from the ``.ko`` (over the kernel's ``vmlinux``) the same.
The Dask path runs a real ``distributed.LocalCluster`` with two workers, one of them
killed mid-run, and must give the local pool's bytes; so must ``btfkit archive --scheduler
tcp://...`` run against a ``dask scheduler`` and ``dask worker`` started as separate processes.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from elftools.elf.elffile import ELFFile

from btfkit.cli.app import main
from btfkit.errors import BTFError
from btfkit.fleet.archive import archive, plan
from btfkit.fleet.diff import diff_paths
from btfkit.fleet.engine import LocalPool, engine, with_progress
from btfkit.fleet.kernel import module_name
from btfkit.format.kinds import Kind
from btfkit.format.reader import load, parse
from btfkit.format.writer import to_bytes
from btfkit.sources.encode import encode

from . import core_oracle
from .conftest import require, tool
from .core_selftests import objects
from .debian_kernels import debug, debug_deb, image, image_deb, releases

FULL = os.environ.get("BTFKIT_FULL") == "1"


def _section(data: bytes, name: str = ".BTF") -> bytes | None:
    sec = ELFFile(io.BytesIO(data)).get_section_by_name(name)
    return None if sec is None else sec.data()


def _members(tarball: Path) -> dict[str, bytes]:
    with tarfile.open(tarball) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]


def _run_archive(debs: list[Path], out: Path, scheduler: str | None = None) -> dict[str, Any]:
    eng = engine(scheduler, 2)
    try:
        return archive(plan(debs), out, lambda fn, items: with_progress(eng, fn, items, "kernels", False))
    finally:
        eng.close()


@pytest.fixture(scope="module")
def kernels() -> list[str]:
    """The oldest and newest 6.12 cloud releases the archive holds (the diff's tests use them
    too); every one of them (~34 MB each) with ``BTFKIT_FULL=1``."""
    found = releases("6.12")
    return found if FULL else [found[0], found[-1]]


@pytest.fixture(scope="module")
def archived(kernels: list[str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("archive")
    debs = [image_deb(r) for r in kernels]
    assert main(["archive", "-o", str(out), "-w", "2", "--no-progress", *map(str, debs)]) == 0
    return out, json.loads((out / "index.json").read_text())


def test_layout_index_and_vmlinux(kernels: list[str], archived: tuple[Path, dict[str, Any]]) -> None:
    out, index = archived
    assert len(index["kernels"]) == len(kernels)
    for release in kernels:
        path = f"debian/12/x86_64/{release}.btf.tar.xz"  # BTFHub's layout for Debian 12 on x86-64
        entry = index["kernels"][path]
        data = (out / path).read_bytes()
        assert entry["release"] == release
        assert (entry["size"], entry["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
        members = _members(out / path)
        assert {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in members.items()} == entry["members"]
        assert _section(image(release).vmlinux.read_bytes()) == members[f"{release}.btf"]


def _shipped_module_btf(release: str) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for ko in image(release).modules:
        data = ko.read_bytes()
        if ko.name.endswith(".xz"):
            data = lzma.decompress(data)
        name = module_name(ko.name)
        assert name is not None
        out[name] = _section(data)
    return out


def test_every_module_as_the_ko_carries_it(kernels: list[str], archived: tuple[Path, dict[str, Any]]) -> None:
    out, index = archived
    for release in kernels:
        entry = index["kernels"][f"debian/12/x86_64/{release}.btf.tar.xz"]
        members = _members(out / entry["path"])
        shipped = _shipped_module_btf(release)
        assert sorted(entry["modules"] + entry["modules_without_btf"]) == sorted(shipped)
        assert len(entry["modules"]) > 1000, "a cloud kernel has over a thousand modules with BTF"
        for name, btf in shipped.items():
            assert members.get(f"{release}/modules/{name}.btf") == btf, name


def test_bpftool_reads_every_member_and_dumps_modules_alike(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, index = archived
    bpftool = tool("bpftool")
    release = kernels[-1]
    entry = index["kernels"][f"debian/12/x86_64/{release}.btf.tar.xz"]
    with tarfile.open(out / entry["path"]) as tar:
        tar.extractall(tmp_path)  # our own tarball (and Python 3.11.2's tarfile has no filter=)
    base = tmp_path / f"{release}.btf"
    names = sorted(p.name for p in (tmp_path / release / "modules").iterdir())
    # One shell loop for all members (a process per member costs more from Python).
    script = f'for m in "$@"; do {bpftool} btf dump file "$m" -B {base} >/dev/null || echo "FAILED $m"; done'
    done = subprocess.run(["sh", "-c", script, "sh", str(base), *(str(tmp_path / release / "modules" / n) for n in names)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert "FAILED" not in done.stdout and not done.stderr, done.stdout[:2000] + done.stderr[:2000]

    kos = {module_name(k.name): k for k in image(release).modules}
    vmlinux = image(release).vmlinux
    by_size = sorted(names, key=lambda n: (tmp_path / release / "modules" / n).stat().st_size)
    sample = names if FULL else sorted({*by_size[-5:], *names[:: max(len(names) // 20, 1)]})
    for member in sample:
        ko = kos[member.removesuffix(".btf")]
        plain = tmp_path / ko.name.removesuffix(".xz")
        plain.write_bytes(lzma.decompress(ko.read_bytes()) if ko.name.endswith(".xz") else ko.read_bytes())
        ours = subprocess.run([bpftool, "btf", "dump", "file", str(tmp_path / release / "modules" / member), "-B", str(base)],
                              capture_output=True, check=True).stdout  # fmt: skip
        theirs = subprocess.run([bpftool, "btf", "dump", "file", str(plain), "-B", str(vmlinux)],
                                capture_output=True, check=True).stdout  # fmt: skip
        assert ours == theirs, member


def test_rerun_skips_and_repairs(kernels: list[str], archived: tuple[Path, dict[str, Any]]) -> None:
    out, index = archived
    debs = [str(image_deb(r)) for r in kernels]
    stamps = {p: (out / p).stat().st_mtime_ns for p in index["kernels"]}
    assert main(["archive", "-o", str(out), "--no-progress", *debs]) == 0
    assert {p: (out / p).stat().st_mtime_ns for p in index["kernels"]} == stamps  # nothing redone

    broken = out / next(iter(index["kernels"]))
    whole = broken.read_bytes()
    broken.write_bytes(whole[: len(whole) // 2])  # a torn file (not btfkit's doing): redone
    assert main(["archive", "-o", str(out), "--no-progress", *debs]) == 0
    assert broken.read_bytes() == whole
    assert json.loads((out / "index.json").read_text()) == index


def test_interrupted_run_leaves_no_half_tarball(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _index = archived
    release = kernels[0]
    deb = str(image_deb(release))
    cmd = [sys.executable, "-m", "btfkit", "archive", "-o", str(tmp_path), "-w", "1", "--no-progress", deb]
    # The writer's test hook stops halfway through each file written; the run is killed there.
    proc = subprocess.Popen(cmd, env={**os.environ, "BTFKIT_TEST_WRITE_STALL": "120"})
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.rglob(".*.tmp")):
            assert proc.poll() is None and time.monotonic() < deadline, "the run ended before writing"
            time.sleep(0.2)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert not list(tmp_path.rglob("*.btf.tar.xz")), "a half-written tarball under its final name"
    assert main(["archive", "-o", str(tmp_path), "--no-progress", deb]) == 0
    path = f"debian/12/x86_64/{release}.btf.tar.xz"
    assert (tmp_path / path).read_bytes() == (out / path).read_bytes()
    assert not list(tmp_path.rglob(".*.tmp"))


def test_dask_cluster_survives_a_killed_worker(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    try:
        import distributed
    except ImportError:
        require(False, "Dask's distributed is not installed (the test extra installs it)")
    out, index = archived
    chosen = [kernels[0], kernels[-1]]
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    killed: list[str] = []
    try:
        watcher = distributed.Client(cluster.scheduler_address, set_as_default=False)

        def kill_one_busy_worker() -> None:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                busy = [w for w, tasks in watcher.processing().items() if tasks]
                if busy:
                    time.sleep(1.0)  # well into the task
                    pids = watcher.run(os.getpid, workers=[busy[0]])
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(busy[0])
                    return
                time.sleep(0.1)

        killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
        killer.start()
        got = _run_archive([image_deb(r) for r in chosen], tmp_path, cluster.scheduler_address)
        killer.join()
        watcher.close()
    finally:
        cluster.close()
    assert killed, "no worker was killed mid-task"
    for release in chosen:
        path = f"debian/12/x86_64/{release}.btf.tar.xz"
        assert (tmp_path / path).read_bytes() == (out / path).read_bytes(), release
        assert got["kernels"][path] == index["kernels"][path]


def test_archive_on_a_separate_dask_scheduler(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    """The fleet setup: ``dask scheduler`` and ``dask worker`` as processes of their own (as on
    other machines), ``btfkit archive --scheduler tcp://...`` run as a command; same bytes as the
    local pool."""
    dask = Path(sys.executable).with_name("dask")
    require(dask.exists(), "Dask's command line is not installed (the test extra installs it)")
    out, index = archived
    release = kernels[-1]
    info = tmp_path / "scheduler.json"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", info], **quiet
    )  # fmt: skip
    workers = None
    try:
        deadline = time.monotonic() + 120
        while not info.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        workers = subprocess.Popen(
            [dask, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"], **quiet
        )  # fmt: skip
        got = tmp_path / "archive"
        run = subprocess.run(
            [sys.executable, "-m", "btfkit", "archive", "-o", got, "--scheduler", address, "--no-progress",
             image_deb(release)],
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
    finally:
        for proc in (workers, scheduler):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
    path = f"debian/12/x86_64/{release}.btf.tar.xz"
    assert (got / path).read_bytes() == (out / path).read_bytes()
    assert json.loads((got / "index.json").read_text())["kernels"][path] == index["kernels"][path]


def test_engines_give_results_as_they_complete() -> None:
    items = [3, -1, 2]
    assert sorted(LocalPool(2).map(abs, items)) == [(-1, 1), (2, 2), (3, 3)]
    assert list(with_progress(LocalPool(1), abs, items, "items", False)) == [3, 1, 2]
    eng = engine("local", 2)  # an in-process LocalCluster, as --scheduler local makes
    try:
        assert sorted(eng.map(abs, items)) == [(-1, 1), (2, 2), (3, 3)]
    finally:
        eng.close()
    with pytest.raises(BTFError, match="scheduler"):
        engine("localhost:8786")


def test_diff_of_whole_kernels(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    out, index = archived
    old, new = kernels[0], kernels[-1]
    old_tar, new_tar = (out / f"debian/12/x86_64/{r}.btf.tar.xz" for r in (old, new))
    # The archive entry, the package and the unpacked kernel are one kernel, module by module.
    assert not diff_paths(new_tar, image(new).root)
    assert main(["diff", "--json", str(image_deb(new)), str(new_tar)]) == 0
    assert json.loads(capsys.readouterr().out) == {"added": [], "removed": [], "changed": []}

    whole = diff_paths(old_tar, new_tar).to_json()
    vmlinux = diff_paths(image(old).vmlinux, image(new).vmlinux).to_json()
    for key in ("added", "removed", "changed"):
        assert [t for t in whole[key] if "module" not in t] == vmlinux[key]
    entry = {r: index["kernels"][f"debian/12/x86_64/{r}.btf.tar.xz"] for r in (old, new)}
    old_mods, new_mods = set(entry[old]["modules"]), set(entry[new]["modules"])
    assert {t["name"] for t in whole["added"] if t["kind"] == "module"} == new_mods - old_mods
    assert {t["name"] for t in whole["removed"] if t["kind"] == "module"} == old_mods - new_mods
    in_modules = [t for t in whole["changed"] if "module" in t]
    assert in_modules and {t["module"] for t in in_modules} <= old_mods & new_mods


def test_compat_agrees_with_the_diff(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, _index = archived
    old, new = kernels[0], kernels[-1]
    page = tmp_path / "compat.html"
    assert main(["compat", str(out), "-k", "struct", "-j", "--html", str(page), "--no-progress"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["releases"] == kernels
    letters = {t["name"]: t["by_release"] for t in got["types"]}
    # Two releases share a struct's layout exactly when the diff sees no layout change in it.
    moved = {c.name for c in diff_paths(image(old).vmlinux, image(new).vmlinux).filtered(["struct"], only_layout=True).changed}
    both = {n for n, by in letters.items() if by[old] and by[new]}
    assert moved and {n for n in both if letters[n][old] != letters[n][new]} == moved & both
    text = page.read_text()
    assert text.count("<tr><th>struct ") == len(got["types"]) and text.count("<th>6.12") == len(kernels)


def test_trees_archive_as_the_package(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    out, _index = archived
    release = kernels[-1]
    root = image(release).root
    path = f"debian/12/x86_64/{release}.btf.tar.xz"
    for n, tree in enumerate([root, root / "lib/modules" / release]):  # unpacked package; /lib/modules/<release>
        dest = tmp_path / str(n)
        assert main(["archive", "-o", str(dest), "--distro", "debian", "--distro-version", "12", "--no-progress",
                     str(tree)]) == 0  # fmt: skip
        assert (dest / path).read_bytes() == (out / path).read_bytes(), tree


def _libbpf_values(run: core_oracle.Run) -> dict[tuple[str, int], int]:
    """The value libbpf patched in for each relocation it logged (its first patch: mem_sz follows)."""
    return {key: relo.patched[0][2] for key, relo in run.relos.items() if relo.patched}


def test_compat_program_resolves_as_libbpf(
    kernels: list[str], archived: tuple[Path, dict[str, Any]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``compat --program`` over the archive: each relocation's value on each release is the one
    libbpf 1.5 patches in when it loads the program against that release's vmlinux (``btf_custom_path``)."""
    out, _index = archived
    prog = objects() / "test_core_reloc_kernel.bpf.o"
    page = tmp_path / "relocations.html"
    assert main(["compat", str(out), "--program", str(prog), "-j", "--html", str(page), "-w", "2", "--no-progress"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["releases"] == kernels and got["loads"] == dict.fromkeys(kernels, True)
    rows = {(r["section"], r["index"]): r for r in got["relocations"]}
    for release in (kernels[0], kernels[-1]):
        theirs = core_oracle.run(prog, image(release).vmlinux)
        assert not theirs.relocation_failed and not any(r.poisoned for r in theirs.relos.values())
        values = _libbpf_values(theirs)
        assert set(values) == set(rows), "libbpf patched other relocations than btfkit lists"
        for key, value in values.items():
            assert rows[key]["by_release"][release] == {"value": value, "fails": False, "reason": None}, key
    assert any(r["kind"] == "field_byte_offset" and r["relocation"].startswith(f"insn {r['insn']}: field_byte_offset struct task_struct.")
               for r in got["relocations"])  # fmt: skip

    # The text table and the page: a row per relocation, a column per release, the same values.
    assert main(["compat", str(out), "--program", str(prog), "-w", "1", "--no-progress"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[1:] == kernels and len(table) == len(rows) + 1
    for line, row in zip(table[1:], got["relocations"], strict=True):
        assert line.startswith(row["relocation"])
        assert line.split()[-len(kernels) :] == [str(row["by_release"][r]["value"]) for r in kernels]
    html = page.read_text()
    assert html.count("<table>") == 1 and html.count("<tr><th>insn ") == len(rows)
    assert all(html.count(f"<th>{r}</th>") == 1 for r in kernels)


def test_compat_program_failures_as_libbpf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """On target BTFs where libbpf loads the program and where it refuses it: the same values, the
    same failing relocation, and its reason in the table, the JSON and the page's hover text."""
    d = objects()
    prog = d / "test_core_reloc_size.bpf.o"
    good, bad = d / "btf__core_reloc_size___diff_sz.bpf.o", d / "btf__core_reloc_size___err_ambiguous.bpf.o"
    page = tmp_path / "relocations.html"
    assert main(["compat", "--program", str(prog), str(good), str(bad), "-j", "--html", str(page), "-w", "1",
                 "--no-progress"]) == 0  # fmt: skip
    got = json.loads(capsys.readouterr().out)
    assert got["loads"] == {good.name: True, bad.name: False}
    rows = {(r["section"], r["index"]): r for r in got["relocations"]}
    ok = core_oracle.run(prog, good)
    assert not ok.relocation_failed
    for key, value in _libbpf_values(ok).items():
        assert rows[key]["by_release"][good.name]["value"] == value, key
    refused = core_oracle.run(prog, bad)
    assert refused.relocation_failed
    (failed_key,) = [k for k, r in refused.relos.items() if r.failed]
    cell = rows[failed_key]["by_release"][bad.name]
    assert cell["fails"] and cell["value"] is None and "relocation decision ambiguity" in cell["reason"]
    label = rows[failed_key]["relocation"]
    assert f'<td class="fail" title="{cell["reason"]}">FAIL</td>' in page.read_text()

    assert main(["compat", "--program", str(prog), str(good), str(bad), "-w", "1", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert f"{label}: {bad.name}: {cell['reason']}" in text
    assert main(["compat", "--program", str(good), str(good), "-w", "1", "--no-progress"]) != 0
    assert "no CO-RE relocations" in capsys.readouterr().err


# --- kernels whose image has no BTF: from the -dbg package's DWARF --------------------------------


@pytest.fixture(scope="module")
def dwarf_kernel() -> str:
    """The newest 6.1 cloud kernel (Debian 12's own line, built with pahole 1.24)."""
    return releases("6.1")[-1]


def _chosen_modules(release: str) -> tuple[dict[str, Path], dict[str, Path], str]:
    """A handful of modules of every size but the largest (by -dbg size: the DWARF to encode), their
    image and -dbg files by name, and one more image module left out of the -dbg tree."""
    dbg = {module_name(k.name): k for k in debug(release).modules_dir.rglob("*.ko*")}
    img = {module_name(k.name): k for k in image(release).modules}
    common = sorted((n for n in dbg if n in img), key=lambda n: (dbg[n].stat().st_size, n))
    assert len(common) > 1000
    picks = [common[int(len(common) * q)] for q in (0.0, 0.2, 0.4, 0.6, 0.8)]
    extra = common[len(common) // 2 + 1]
    return {n: img[n] for n in [*picks, extra]}, {n: dbg[n] for n in picks}, extra  # type: ignore[misc]


def _link_tree(root: Path, files: dict[str, Path], under: Path, top: Path) -> None:
    for path in files.values():
        dest = root / under / path.relative_to(top)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.symlink_to(path)


def test_plan_pairs_debug_packages(dwarf_kernel: str) -> None:
    """A -dbg package beside its image goes with it (one kernel); alone, it is its kernel."""
    img, dbg = image_deb(dwarf_kernel), debug_deb(dwarf_kernel)
    (job,) = plan([img, dbg])
    assert (job.source, job.debug, job.release) == (str(img), str(dbg), dwarf_kernel)
    (alone,) = plan([dbg])
    assert (alone.source, alone.debug, alone.path) == (str(dbg), str(dbg), job.path)
    assert job.path.startswith("debian/") and job.path.endswith(f"/x86_64/{dwarf_kernel}.btf.tar.xz")
    assert plan([img])[0].debug is None


def test_debug_tree_alone_with_btf(dwarf_kernel: str, tmp_path: Path) -> None:
    """An unpacked -dbg tree whose vmlinux has its .BTF: archived as it carries it, no encoding."""
    _img, dbg, _extra = _chosen_modules(dwarf_kernel)
    pkg = debug(dwarf_kernel)
    root = tmp_path / "dbg"
    _link_tree(root, {"vmlinux": pkg.vmlinux}, Path(), pkg.root)
    _link_tree(root, dbg, Path(), pkg.root)
    assert main(["archive", "-o", str(tmp_path / "out"), "--distro", "debian", "--distro-version", "12",
                 "--no-progress", str(root)]) == 0  # fmt: skip
    members = _members(tmp_path / "out" / f"debian/12/x86_64/{dwarf_kernel}.btf.tar.xz")
    assert members[f"{dwarf_kernel}.btf"] == _section(pkg.vmlinux.read_bytes())
    for name, ko in dbg.items():
        assert members[f"{dwarf_kernel}/modules/{name}.btf"] == _section(ko.read_bytes()), name


def test_archive_from_dwarf(dwarf_kernel: str, tmp_path: Path) -> None:
    """An image without .BTF (its vmlinux stripped of it by objcopy) beside its -dbg tree: the
    vmlinux BTF is btfkit's encoding of the -dbg vmlinux's DWARF (with --btf_gen_floats, as Debian
    12 builds it), each module's is encoded over it from the -dbg module; bpftool reads them all.

    The trees hold a handful of modules (of every size but the largest) rather than all
    ~1,100: the same code runs per module, and encoding them all from DWARF takes an hour of CPU.
    """
    release = dwarf_kernel
    img_files, dbg_files, extra = _chosen_modules(release)
    pkg, dbg_pkg = image(release), debug(release)
    img_root, dbg_root = tmp_path / "image", tmp_path / "dbg"
    (img_root / "boot").mkdir(parents=True)
    stripped = img_root / "boot" / f"vmlinux-{release}"
    subprocess.run([tool("objcopy"), "--remove-section", ".BTF", str(pkg.vmlinux), str(stripped)], check=True)
    assert _section(stripped.read_bytes()) is None
    _link_tree(img_root, img_files, Path(), pkg.root)
    _link_tree(dbg_root, {"vmlinux": dbg_pkg.vmlinux, **dbg_files}, Path(), dbg_pkg.root)

    out = tmp_path / "out"
    args = ["archive", "-o", str(out), "--distro", "debian", "--distro-version", "12", "-w", "2", "--no-progress"]
    assert main([*args, str(img_root), str(dbg_root)]) == 0
    path = f"debian/12/x86_64/{release}.btf.tar.xz"
    entry = json.loads((out / "index.json").read_text())["kernels"][path]
    assert entry["btf_from"] == "dwarf" and entry["debug"] == str(dbg_root)
    assert entry["modules"] == sorted(dbg_files) and entry["modules_without_btf"] == [extra]
    members = _members(out / path)

    vmlinux = members[f"{release}.btf"]
    assert vmlinux == to_bytes(encode(dbg_pkg.vmlinux, gen_floats=True, check_base=False))
    base = parse(vmlinux)
    assert [t.kind for t in base.find_all("double")] == [Kind.FLOAT], "--btf_gen_floats, as Debian builds"
    for name, ko in dbg_files.items():
        member = members[f"{release}/modules/{name}.btf"]
        assert member == to_bytes(encode(ko, base, gen_floats=True)), name

    # bpftool reads every member, the modules split over the archived vmlinux; so does btfkit.
    bpftool = tool("bpftool")
    (tmp_path / "x").mkdir()
    base_file = tmp_path / "x" / "vmlinux.btf"
    base_file.write_bytes(vmlinux)
    subprocess.run([bpftool, "btf", "dump", "file", str(base_file)], check=True, capture_output=True)
    for name in dbg_files:
        split = tmp_path / "x" / f"{name}.btf"
        split.write_bytes(members[f"{release}/modules/{name}.btf"])
        dump = subprocess.run([bpftool, "btf", "dump", "file", str(split), "-B", str(base_file)],
                              check=True, capture_output=True, text=True).stdout  # fmt: skip
        btf = load(split, base)
        assert btf.start_id == base.type_count
        assert len(btf) == sum(line.startswith("[") for line in dump.splitlines()), name


def test_release_of_a_debian_releases_own_kernel() -> None:
    """Debian 12's own 6.1 kernel has no "deb12" in its version: its changelog's distribution gives the release.

    The oracle: the package comes from this machine's archive, and its changelog (read by
    dpkg-deb, tar and zcat) names this machine's release codename, whose number
    /etc/os-release gives.
    """
    os_release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines() if "=" in line)
    require(os_release.get("ID") == "debian", "not a Debian machine: its archive has no Debian kernel packages")
    codename, number = os_release["VERSION_CODENAME"], os_release["VERSION_ID"].strip('"')
    release = releases("6.1")[-1]
    deb = image_deb(release)
    package = subprocess.run(["dpkg-deb", "-f", str(deb), "Package"], capture_output=True, text=True, check=True).stdout
    first = subprocess.run(
        f"dpkg-deb --fsys-tarfile {deb} | tar -xO ./usr/share/doc/{package.strip()}/changelog.Debian.gz | zcat | head -1",
        shell=True, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert first.split(")")[1].split(";")[0].strip().split("-")[0] == codename, first
    assert "deb" not in deb.name.removesuffix(".deb").split("_")[1]  # no debNN to read the release from
    (job,) = plan([deb])
    assert (job.distro, job.version) == ("debian", number)
    (job,) = plan([image(release).root])  # unpacked: no etc/os-release, but the changelog
    assert (job.distro, job.version) == ("debian", number)
    (job,) = plan([deb], version="bookworm-ish")  # what the user says wins
    assert job.version == "bookworm-ish"
