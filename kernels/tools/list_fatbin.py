#!/usr/bin/env python3
"""Lists the cubins and PTX inside a library's .nv_fatbin section, per kernel.

A stand-in for `cuobjdump --list-elf` where the toolkit ships without cuobjdump:
    python3 kernels/tools/list_fatbin.py target/native/libsalient_cuda.so [--kernels]
Prints one line per entry (elf/ptx, sm, size) and, with --kernels, the kernels
(`.text.<mangled name>` sections) found in each ELF entry. Exits 1 when no sm_90
ELF is found, or when a kernel of an sm_80 ELF lacks sm_90 code.
"""
import re
import struct
import subprocess
import sys
import tempfile

FATBIN_MAGIC = 0xBA55ED50


def fatbin_section(lib):
    with tempfile.NamedTemporaryFile() as tmp:
        subprocess.run(["objcopy", "-O", "binary", "--only-section=.nv_fatbin", lib, tmp.name], check=True)
        return open(tmp.name, "rb").read()


def entries(data):
    off = 0
    while off + 16 <= len(data):
        magic, _ver, hsz, fsz = struct.unpack_from("<IHHQ", data, off)
        if magic != FATBIN_MAGIC:
            off += 8
            continue
        p, end = off + hsz, off + hsz + fsz
        while p < end:
            kind, _v, hsize, psize = struct.unpack_from("<HHIQ", data, p)
            (sm,) = struct.unpack_from("<I", data, p + 28)
            yield {1: "ptx", 2: "elf"}.get(kind, str(kind)), sm, data[p + hsize:p + hsize + psize]
            p += hsize + psize
        off = end


def main():
    lib = sys.argv[1]
    show = "--kernels" in sys.argv
    kernels = {}
    for kind, sm, payload in entries(fatbin_section(lib)):
        names = sorted(set(m.decode() for m in re.findall(rb"\.text\.([A-Za-z0-9_]+)", payload))) if kind == "elf" else []
        print(f"{kind} sm_{sm} {len(payload)} bytes" + (f" {len(names)} kernels" if kind == "elf" else ""))
        if kind == "elf":
            kernels.setdefault(sm, set()).update(names)
        if show:
            for n in names:
                print("    " + n)
    if not kernels.get(90):
        print("no sm_90 code", file=sys.stderr)
        return 1
    missing = kernels.get(80, set()) - kernels[90]
    if missing:
        print("kernels without sm_90 code: " + ", ".join(sorted(missing)), file=sys.stderr)
        return 1
    print(f"sm_80: {len(kernels.get(80, ()))} kernels, sm_90: {len(kernels[90])} kernels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
