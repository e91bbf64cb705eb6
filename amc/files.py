"""Files written whole or not at all (a temp file beside the target, fsync, rename), and directories
replaced safely (only amc's own, the old one kept until the new one is good)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from amc.errors import AmcError


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


# -- replacing a directory ----------------------------------------------------------------------
RUN_MARKERS = ("config.json", "summary.json", "metrics.jsonl", "best.pt", "last.pt")  # an amc run directory


class DirectoryError(AmcError):
    """A directory amc was asked to replace is not one of amc's own: nothing was touched."""


def check_replaceable(target: Path, overwrite: bool, is_ours: Callable[[Path], bool], what: str) -> None:
    """Raise unless `target` is missing, empty, or (with --overwrite) one of amc's own `what` directories.

    Called before any work starts, so a refused command changes nothing."""
    if not target.exists():
        return
    if not target.is_dir():
        raise DirectoryError(f"{target} is a file, not a {what} directory; choose another path")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise FileExistsError(f"{target} exists and is not empty; pass --overwrite to replace it (it must be "
                              f"a {what} directory) or choose another path")
    if not is_ours(target):
        raise DirectoryError(f"{target} is not a {what} directory (none of amc's files are in it); --overwrite "
                             "replaces only amc's own output, so nothing was deleted: choose another path")


def is_run_dir(path: Path) -> bool:
    """An amc training run directory: one of the files `amc train` writes is in it."""
    return any((path / name).is_file() for name in RUN_MARKERS)


class ReplaceDir:
    """Make `target` fresh for a command's output, keeping the old one until the new one is good.

    ``with ReplaceDir(target, overwrite, is_ours, what) as rd:`` checks the target
    (``check_replaceable``), moves an existing non-empty target aside to a hidden sibling
    (``.NAME.old-XXXX``) and creates an empty ``target``. ``rd.commit()`` deletes the old one (call it
    once the new output has started cleanly; leaving the block without an error commits too). An error
    before ``commit`` removes what this block created and puts the old directory back, so a failed
    command leaves the directory exactly as it found it (a directory it created is removed again).
    """

    def __init__(self, target: str | os.PathLike[str], overwrite: bool, is_ours: Callable[[Path], bool] = is_run_dir,
                 what: str = "run") -> None:
        self.target, self.overwrite, self.is_ours, self.what = Path(target), overwrite, is_ours, what
        self.aside: Path | None = None
        self.created = False
        self.committed = False

    def __enter__(self) -> ReplaceDir:
        check_replaceable(self.target, self.overwrite, self.is_ours, self.what)
        t = self.target
        if t.exists() and any(t.iterdir()):
            self.aside = Path(tempfile.mkdtemp(prefix=f".{t.name}.old-", dir=t.parent))
            os.replace(t, self.aside / t.name)  # a rename: instant, and undone as easily
        if not t.exists():
            t.mkdir(parents=True)
            self.created = True
        return self

    def commit(self) -> None:
        """The new output has started cleanly: delete the old directory."""
        if self.committed:
            return
        self.committed = True
        if self.aside is not None:
            shutil.rmtree(self.aside, ignore_errors=True)
            self.aside = None

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
            return
        if self.committed:
            return  # the new output stands (a run that stopped after its first epoch can be resumed)
        shutil.rmtree(self.target, ignore_errors=True)  # what this command wrote
        if self.aside is not None:
            os.replace(self.aside / self.target.name, self.target)
            shutil.rmtree(self.aside, ignore_errors=True)
        elif not self.created:
            self.target.mkdir(parents=True, exist_ok=True)  # it was there, empty: leave it so


def replace_dir(new: Path, target: Path) -> None:
    """Put the finished directory `new` at `target`: the old target is renamed aside first and deleted only
    once `new` is in place (restored if the rename fails)."""
    aside = None
    if target.exists():
        aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.replace(target, aside / target.name)
    try:
        os.replace(new, target)
    except BaseException:
        if aside is not None:
            os.replace(aside / target.name, target)
        raise
    finally:
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
