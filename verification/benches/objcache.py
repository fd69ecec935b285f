"""A compiler-output cache for Verilator's runtime, used as Verilator's ``OBJCACHE`` prefix.

Every Verilator model compiles the same runtime files (``verilated.cpp``, ``verilated_vpi.cpp``,
…: about 7 s of the 8–10 s a small model takes at -O0), and Verilator's makefile rebuilds them
whenever it regenerates the model's makefile, so copying objects between builds does not help.
Run as ``python objcache.py g++ ARGS…`` in front of each compile, this script serves a runtime
object (and its ``.d`` file) from ``$FP4HW_OBJCACHE_DIR`` when the same command compiled the
same sources before, and otherwise compiles and stores the result (written aside, renamed into
place). The key is the command line (without the output name), the compiler's ``--version``, the
source file's bytes and the names, sizes and times of the Verilator include folder's files; any other compile is passed
through untouched.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def _key(args: list[str], source: Path) -> str:
    digest = hashlib.sha256()
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg == "-o":
            skip = True
            continue
        digest.update(arg.encode() + b"\0")
    digest.update(subprocess.run([args[0], "--version"], capture_output=True).stdout)   # the compiler's own version
    digest.update(source.read_bytes())
    for f in sorted(source.parent.rglob("*")):
        if f.is_file():
            st = f.stat()
            digest.update(f"{f.relative_to(source.parent)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def main(argv: list[str]) -> int:
    cache = os.environ.get("FP4HW_OBJCACHE_DIR")
    root = os.environ.get("VERILATOR_ROOT")
    sources = [a for a in argv if a.endswith(".cpp")]
    output = argv[argv.index("-o") + 1] if "-o" in argv[:-1] else None
    cacheable = (cache and root and "-c" in argv and output and len(sources) == 1
                 and Path(sources[0]).resolve().is_relative_to(Path(root, "include").resolve()))
    if not cacheable:
        return subprocess.call(argv)
    source = Path(sources[0])
    key = _key(argv, source)
    stored = Path(cache) / key
    target = Path(output)
    depfile = target.with_suffix(".d")
    if (stored / "object.o").exists():
        shutil.copyfile(stored / "object.o", target)
        if (stored / "object.d").exists():
            text = (stored / "object.d").read_text()
            depfile.write_text(text.replace("__FP4HW_TARGET__", target.name))
        return 0
    code = subprocess.call(argv)
    if code == 0 and target.exists():
        Path(cache).mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".objcache-", dir=cache))
        shutil.copyfile(target, staging / "object.o")
        if depfile.exists():
            text = depfile.read_text()
            (staging / "object.d").write_text(text.replace(target.name + ":", "__FP4HW_TARGET__:", 1))
        try:
            staging.rename(stored)
        except OSError:                      # another build stored it first
            shutil.rmtree(staging, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
