"""Outputs that are never half-written and never destroy what was there.

- :func:`check_target`: an output path must be a regular file or folder or not exist yet; a
  symlink, device node, FIFO or socket is refused (a run as root must not replace ``/dev/null``).
- :func:`write_text` / :func:`write_bytes` / :func:`open_atomic`: a temporary file beside the
  target, renamed into place when complete; on any failure (or Ctrl-C) the temporary file is
  removed and the target is untouched. Files get the user's umask (``mkstemp`` alone gives 0600).
- :func:`staging` + :func:`publish`: a run that writes several files builds them in a hidden
  folder beside the target, then moves each into place with SIGINT held back for the few
  renames, so an interrupted run leaves the previous output (or nothing), not a mixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import stat
import tempfile
import threading
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target(path, *, kind: str = "file", option: str = "-o") -> Path:
    """``path`` as a Path if it may be written as ``kind`` ("file" or "folder"); ValueError with
    one line otherwise. A file's folder must exist; a folder's parents are made when written."""
    text = os.fspath(path)
    path = Path(path)
    if str(path) in ("", "."):
        raise ValueError(f"{option} needs a {kind} name")
    if kind == "file" and text.endswith(("/", os.sep)):     # Path() drops the slash: "newdir/" named a file
        raise ValueError(f"{option} {text} names a folder (it ends in /); give a file name")
    if path.is_symlink():
        raise ValueError(f"{option} {path} is a symbolic link; name a regular {kind}")
    if path.exists():
        mode = path.stat().st_mode
        if kind == "file" and stat.S_ISDIR(mode):
            raise ValueError(f"{option} {path} is a folder; name a file")
        if kind == "folder" and stat.S_ISREG(mode):
            raise ValueError(f"{option} {path} is a file; this command writes a folder")
        if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            what = ("a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
                    "a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
            raise ValueError(f"{option} {path} is {what}; name a regular {kind}")
    parent = path.parent if str(path.parent) else Path(".")
    if kind == "file" and not parent.is_dir():
        raise ValueError(f"{option} {path}: folder {parent} does not exist")
    for above in [parent, *parent.parents]:
        if above.exists() or above.is_symlink():
            if not above.is_dir():
                raise ValueError(f"{option} {path}: {above} is not a folder")
            break
    return path


@contextlib.contextmanager
def open_atomic(path, mode: str = "w", *, option: str = "-o"):
    """A file object whose content replaces ``path`` only when the block ends without error."""
    path = check_target(path, option=option)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, mode) as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text: str, *, option: str = "-o") -> None:
    with open_atomic(path, "w", option=option) as f:
        f.write(text)


def write_bytes(path, data: bytes, *, option: str = "-o") -> None:
    with open_atomic(path, "wb", option=option) as f:
        f.write(data)


@contextlib.contextmanager
def staging(target, *, option: str = "-o"):
    """A fresh hidden folder beside ``target`` (a folder), removed when the block ends: write
    into it, then :func:`publish` what should replace ``target``'s entries."""
    target = check_target(target, kind="folder", option=option)
    parent = target.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    os.chmod(work, 0o777 & ~_umask())
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


# The signals a run treats as an interruption (the CLI turns SIGTERM and SIGHUP into one too).
HELD_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _signals_held():
    """Defer SIGINT, SIGTERM and SIGHUP during a few renames, then deliver them. Python runs a
    signal's handler in the main thread whichever thread the OS delivered it to (numpy's worker
    threads take it as readily), so the handlers, not the thread's signal mask, are swapped for
    ones that only record (issue 33: a mask on the main thread did not hold SIGINT back). Only
    the main thread can set handlers; elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = []
    previous = {number: signal.getsignal(number) for number in HELD_SIGNALS}
    previous = {number: handler for number, handler in previous.items() if handler is not None}  # not ours to swap
    for number in previous:
        signal.signal(number, lambda n, frame: pending.append(n))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        for number in dict.fromkeys(pending):
            signal.raise_signal(number)         # now handled as it would have been


def _swap(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``, replacing a file or a whole folder."""
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def publish(work: Path, target, names=None) -> list[str]:
    """Move the entries ``names`` (default: all) of ``work`` into the folder ``target``
    (created if missing), each replacing what had that name; other entries of ``target`` are
    left alone. ``names`` that ``work`` lacks are removed from ``target``, so the result is
    exactly this run's output."""
    target = Path(target)
    names = sorted(p.name for p in work.iterdir()) if names is None else list(names)
    with _signals_held():
        target.mkdir(parents=True, exist_ok=True)
        for name in names:
            source = work / name
            if source.exists():
                _swap(source, target / name)
            elif (target / name).is_dir():
                shutil.rmtree(target / name)
            elif (target / name).exists():
                (target / name).unlink()
    return names


def replace_folder(work: Path, target) -> None:
    """Make the folder ``work`` become ``target`` whole (the old ``target`` removed)."""
    target = Path(target)
    with _signals_held():
        if target.exists():
            _swap(work, target)
        else:
            os.replace(work, target)
