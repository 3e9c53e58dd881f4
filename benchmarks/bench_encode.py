"""Encoding kernel modules' DWARF into split BTF: btfkit vs ``pahole -J --btf_base`` (1.24).

Builds the test modules (tests/data/c/enc_mod_*.c, and v4l2loopback and apfs from Debian's
DKMS packages when they can be fetched) against the corpus kernel's headers, then times, per module:

* in-process: ``btfkit.sources.encode.encode`` with the vmlinux already loaded and indexed (what a tool
  encoding many modules pays per module), split into DWARF reading (pyelftools + relocations),
  BTF building and dedup, next to pahole's whole run;
* whole process: ``btfkit encode KO -B vmlinux -o OUT`` against ``pahole -J --btf_base``, both
  loading vmlinux from scratch;
* all modules in one ``btfkit encode --in-place`` run against one pahole run per module;
* a whole kernel: the DWARF vmlinux of Debian's newest 6.1 cloud kernel (its -dbg package),
  ``btfkit encode --no-base --btf_gen_floats`` against ``pahole -J -j --btf_gen_floats
  --lang_exclude=rust`` (Debian's flags for 6.1), both on every CPU, with peak memory.

Run: ``.venv/bin/python -m benchmarks.bench_encode`` (``--vmlinux`` for the whole kernel only)
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests import debian_kernels

import btfkit
from btfkit.sources.encode import EncodeStats, encode
from btfkit.transforms.dedup import BaseIndex

from .common import BTFKIT, CORPUS, PYTHON, best_of, report, run_best_of

ROOT = Path(__file__).resolve().parent.parent
# The corpus kernel's headers (scripts/fetch-corpus records its release).
KBUILD = Path("/lib/modules") / (CORPUS / "release").read_text().strip() / "build"
DEBS = CORPUS.parent / "debs"


def build_modules(tmp: Path) -> list[Path]:
    own = tmp / "own"
    own.mkdir()
    srcs = sorted((ROOT / "tests/data/c").glob("enc_mod_*.c"))
    for c in srcs:
        shutil.copy(c, own)
    (own / "Makefile").write_text("obj-m := " + " ".join(c.stem + ".o" for c in srcs) + "\n")
    subprocess.run(["make", "-s", "-C", str(KBUILD), f"M={own}", "modules"], check=True, capture_output=True)
    kos = sorted(own.glob("*.ko"))
    # real third-party modules: v4l2loopback (one big CU) and apfs (25 CUs)
    for package, modpost_warn in (("v4l2loopback-dkms", True), ("apfs-dkms", False)):
        debs = sorted(DEBS.glob(f"{package}_*.deb"))
        if not debs:
            DEBS.mkdir(parents=True, exist_ok=True)
            subprocess.run(["apt-get", "download", package], cwd=DEBS, capture_output=True, check=False)
            debs = sorted(DEBS.glob(f"{package}_*.deb"))
        if not debs:
            print(f"(skipping {package}: apt-get download failed)")
            continue
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(tmp / package)], check=True)
        (src,) = (tmp / package / "usr/src").iterdir()
        warn = ["KBUILD_MODPOST_WARN=1"] if modpost_warn else []  # the cloud kernel has no V4L2
        subprocess.run(["make", "-s", "-C", str(KBUILD), f"M={src}", *warn, "modules"], check=True,
                       capture_output=True)  # fmt: skip
        kos += sorted(src.glob("*.ko"))
    return kos


def _run_measured(cmd: list[str], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs of ``cmd`` (seconds) and its peak memory (MiB)."""
    best, peak = float("inf"), 0.0
    for _ in range(repeat):
        t = time.perf_counter()
        with subprocess.Popen(cmd, stdout=subprocess.DEVNULL) as proc:
            _pid, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = status
        assert status == 0, cmd
        best = min(best, time.perf_counter() - t)
        peak = max(peak, usage.ru_maxrss / 1024)
    return best, peak


def bench_vmlinux(repeat: int = 3) -> None:
    """A whole kernel, btfkit against pahole -j (both writing raw BTF)."""
    release = debian_kernels.releases("6.1")[-1]
    vmlinux = debian_kernels.debug(release).vmlinux
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        pahole = ["pahole", "-J", "-j", "--btf_gen_floats", "--lang_exclude=rust", "--btf_encode_detached",
                  str(tmp / "pahole.btf"), str(vmlinux)]  # fmt: skip
        ours = [*BTFKIT, "encode", "--no-base", "--btf_gen_floats", str(vmlinux), "-o", str(tmp / "btfkit.btf")]
        theirs, their_peak = _run_measured(pahole, repeat)
        mine, my_peak = _run_measured(ours, repeat)
    print(f"vmlinux {release} (-dbg) on {len(os.sched_getaffinity(0))} CPUs:")
    report("vmlinux encode, whole process", mine, theirs, "pahole -j", target=5)
    print(f"    peak memory: btfkit {my_peak:.0f} MiB (largest process), pahole {their_peak:.0f} MiB")


def main() -> None:
    if "--vmlinux" in sys.argv[1:]:
        bench_vmlinux()
        return
    vmlinux = CORPUS / "vmlinux"
    t = time.perf_counter()
    base = btfkit.load(vmlinux)
    t_load = time.perf_counter() - t
    t = time.perf_counter()
    index = BaseIndex(base)
    t_index = time.perf_counter() - t
    print(f"vmlinux BTF: load {t_load * 1000:.0f} ms, dedup base index {t_index * 1000:.0f} ms (once per run)")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        kos = build_modules(tmp)
        pahole_total = 0.0
        for ko in kos:
            copy = tmp / f"pahole-{ko.name}"
            shutil.copy(ko, copy)
            # pahole 1.24 opens its output without O_TRUNC: a fresh name per module
            ref = tmp / f"{ko.stem}.pahole.btf"
            pahole = ["pahole", "-J", "--btf_base", str(vmlinux), "--btf_encode_detached", str(ref), str(copy)]
            theirs = run_best_of(pahole)
            pahole_total += theirs
            stats: list[EncodeStats] = []

            def once(ko: Path = ko, stats: list[EncodeStats] = stats) -> None:
                st = EncodeStats()
                encode(ko, base, index=index, stats=st)
                stats.append(st)

            ours = best_of(once)
            st = min(stats, key=lambda s: s.read_seconds + s.build_seconds + s.dedup_seconds)
            assert btfkit.to_bytes(encode(ko, base, index=index)) == ref.read_bytes()
            report(f"{ko.name} in-process", ours, theirs, "pahole", target=10)
            print(f"    {st.dies} DIEs in {st.cus} CUs, {st.types_before_dedup} types before dedup: "
                  f"DWARF read {st.read_seconds * 1000:.1f} ms, BTF build {st.build_seconds * 1000:.1f} ms, "
                  f"dedup {st.dedup_seconds * 1000:.1f} ms")  # fmt: skip
            cli = [PYTHON, "-m", "btfkit", "encode", str(ko), "-B", str(vmlinux), "-o", str(tmp / "b.btf")]
            report(f"{ko.name} whole process", run_best_of(cli, 3), theirs, "pahole", target=10)
        # One btfkit process for all the modules (the base loaded and indexed once), against
        # one pahole process per module, both writing the .BTF sections in place.
        copies = []
        for ko in kos:
            copies.append(tmp / f"inplace-{ko.name}")
            shutil.copy(ko, copies[-1])
        cli = [PYTHON, "-m", "btfkit", "encode", "--in-place", "-B", str(vmlinux), *map(str, copies)]
        report(f"all {len(kos)} modules, one process", run_best_of(cli, 3), pahole_total,
               "pahole", target=10)  # fmt: skip
    bench_vmlinux()


if __name__ == "__main__":
    main()
