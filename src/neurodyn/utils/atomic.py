"""Outputs appear whole or not at all, and neurodyn never destroys what it did not write.

- ``atomic_path(out)`` yields a temporary sibling; when the body succeeds the result is marked as neurodyn's and
  swapped in: a file by one ``os.replace``; a directory (a session store, a run record) by renaming the old one
  aside, the new one in, then deleting the old one, so a reader never sees a half-replaced store and two writers
  of the same output never crash each other (the last one wins). On any exception, SIGTERM included (the CLI
  turns it into ``SystemExit``), the temporary path is removed and ``out`` is untouched.
- Before anything is written, ``out`` must be free or hold an output neurodyn wrote (``written_by_neurodyn``), and
  it must not be, nor contain, one of the command's inputs (``check_replaceable``). Anything else is refused with
  one ``InputError`` line: a user's folder named by ``--out`` is never deleted.

The mark: the extended attribute ``user.neurodyn`` on every file and directory written here; inside directories
also a ``.neurodyn`` file (it survives copies that drop extended attributes), and session stores and run
records carry it in their own metadata (``attrs.written_by``, ``run.json``). Outputs written before the mark
existed are recognised by that metadata (a store's ``converter_version``, a run record's ``run.json``). On a
filesystem without user extended attributes, a file neurodyn wrote cannot be told from a user's file: it is
refused, and the line says to delete it by hand (Snakemake deletes a job's outputs before it runs the job, so
workflow runs are not affected).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path

from neurodyn.errors import InputError

WRITER = "neurodyn"
XATTR = "user.neurodyn"
DIR_MARK = ".neurodyn"


def _tmp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


# -- the mark ----------------------------------------------------------------------------------------------------
def mark(path: str | os.PathLike) -> None:
    """Mark ``path`` (file or directory) as written by neurodyn."""
    path = Path(path)
    if path.is_dir():
        (path / DIR_MARK).write_text(json.dumps({"written_by": WRITER}) + "\n", encoding="utf-8")
    with contextlib.suppress(OSError):  # no user xattrs here (some network filesystems): the mark is the file
        os.setxattr(path, XATTR, WRITER.encode())


def written_by_neurodyn(path: str | os.PathLike) -> bool:
    """Whether ``path`` is an output neurodyn wrote (see the module docstring for how that is told)."""
    path = Path(path)
    if path.is_symlink():
        return False  # a link points at something else: whatever it is, it is not ours to replace
    with contextlib.suppress(OSError):
        if os.getxattr(path, XATTR) == WRITER.encode():
            return True
    if not path.is_dir():
        return False
    if (path / DIR_MARK).is_file():
        return True
    # outputs from before the mark: a session store's attrs, a run record's run.json
    for meta, keys in ((".zattrs", ("converter_version", "name")), ("run.json", ("seed", "command"))):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            doc = json.loads((path / meta).read_text(encoding="utf-8"))
            if doc.get("written_by") == WRITER or all(k in doc for k in keys):
                return True
    return False


def check_replaceable(path: str | os.PathLike, inputs: Iterable[str | os.PathLike] = (), *, what: str = "output") -> None:
    """Raise InputError unless writing ``path`` can destroy nothing but an earlier neurodyn output.

    ``path`` must not be one of ``inputs`` nor contain one, and if it exists it must be ``written_by_neurodyn``.
    """
    path = Path(path)
    target = path.resolve()
    for item in inputs:
        source = Path(item).resolve()
        if source == target or source.is_relative_to(target):
            raise InputError(path, "", f"an {what} path that is not one of the command's inputs (it holds {item})")
    if not (path.exists() or path.is_symlink()):
        return
    if not written_by_neurodyn(path):
        kind = "link" if path.is_symlink() else "folder" if path.is_dir() else "file"
        raise InputError(path, "", f"a free {what} path or one neurodyn wrote; this {kind} has no neurodyn mark, so it "
                                   "is not replaced (remove it yourself or choose another path)")


# -- atomic writes -----------------------------------------------------------------------------------------------
@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (file or directory); on success mark it and swap it in.

    Refuses (InputError, before the body runs) a ``path`` that neurodyn did not write or that is one of
    ``inputs``. On any exception the temporary path is removed and ``path`` is left untouched.
    """
    final = Path(path)
    inputs = list(inputs)
    check_replaceable(final, inputs)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_sibling(final)
    remove(tmp)
    try:
        yield tmp
        from neurodyn.rehearsal.marker import mark_file

        mark_file(tmp, final)  # a rehearsal's tables say so (no-op otherwise)
        mark(tmp)
        check_replaceable(final, inputs)  # again: something may have appeared there while we worked
        _swap_in(tmp, final)
    except BaseException:
        remove(tmp)
        raise


def _swap_in(tmp: Path, final: Path) -> None:
    """Rename ``tmp`` to ``final``; an existing directory is renamed aside first and deleted after."""
    if not tmp.is_dir():
        os.replace(tmp, final)  # atomic for files, whatever was there
        return
    aside: list[Path] = []
    try:
        for attempt in range(100):
            if final.exists() and not final.is_symlink():
                old = final.with_name(f".{final.name}.old-{os.getpid()}-{attempt}")
                with contextlib.suppress(FileNotFoundError):  # another writer moved it first
                    os.rename(final, old)
                    aside.append(old)
            try:
                os.rename(tmp, final)
                return
            except OSError as err:  # another writer swapped its copy in between: move that one aside too
                if err.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.EISDIR, errno.ENOTDIR):
                    raise
        raise OSError(f"could not swap {tmp} into {final}: another writer keeps replacing it")
    finally:
        for old in aside:
            remove(old)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
