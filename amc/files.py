"""Files written whole or not at all: a temp file beside the target, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def writable_dir(directory: Path) -> bool:
    """Whether a file can be created in `directory` (tried, not guessed from permission bits: root, /proc)."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".amc-probe.", dir=directory)
    except OSError:
        return False
    os.close(fd)
    os.unlink(tmp)
    return True


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success fsync and rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except OSError as e:  # name the path the user gave, not the temp file
        raise OSError(e.errno, f"cannot write {path} ({e.strerror or e}); choose another path") from e
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; the final file gets the usual mode
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        with contextlib.suppress(OSError):  # persist the rename
            dir_fd = os.open(path.parent, os.O_RDONLY)
            os.fsync(dir_fd)
            os.close(dir_fd)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
