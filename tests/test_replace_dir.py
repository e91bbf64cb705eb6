"""--overwrite replaces only amc's own directories, and the old one survives a failure (issue 22, item 2)."""

from __future__ import annotations

import pytest

from amc.files import DirectoryError, ReplaceDir, is_run_dir, replace_dir


def tree(path):
    return sorted(str(p.relative_to(path)) + ("/" if p.is_dir() else "=" + p.read_text())
                  for p in path.rglob("*"))


def make_run(path, tag="old"):
    path.mkdir()
    (path / "config.json").write_text(tag)
    (path / "best.pt").write_text(tag)
    return tree(path)


def test_a_folder_of_unrelated_files_is_never_replaced(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "a.jpg").write_text("1")
    (d / "sub").mkdir()
    (d / "sub" / "b.txt").write_text("2")
    before = tree(d)
    with pytest.raises(DirectoryError, match="photos is not a run directory.*nothing was deleted"):
        with ReplaceDir(d, overwrite=True):
            raise AssertionError("the block must not run")
    with pytest.raises(FileExistsError, match="pass --overwrite"):
        with ReplaceDir(d, overwrite=False):
            raise AssertionError("the block must not run")
    assert tree(d) == before


def test_a_run_directory_is_replaced_once_the_new_one_is_good(tmp_path):
    d = tmp_path / "run"
    make_run(d)
    with ReplaceDir(d, overwrite=True) as rd:
        assert d.is_dir() and not any(d.iterdir())  # a fresh, empty directory for the new run
        (d / "config.json").write_text("new")
        rd.commit()
        assert [p.name for p in tmp_path.iterdir()] == ["run"]  # the old one is gone after commit
    assert tree(d) == ["config.json=new"]


def test_a_failure_before_commit_restores_the_old_run(tmp_path):
    d = tmp_path / "run"
    before = make_run(d)
    with pytest.raises(RuntimeError, match="midway"):
        with ReplaceDir(d, overwrite=True):
            (d / "config.json").write_text("half")
            raise RuntimeError("midway")
    assert tree(d) == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no hidden leftovers
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C too
        with ReplaceDir(d, overwrite=True):
            raise KeyboardInterrupt
    assert tree(d) == before


def test_a_failure_leaves_nothing_where_there_was_nothing(tmp_path):
    d = tmp_path / "new"
    with pytest.raises(RuntimeError):
        with ReplaceDir(d, overwrite=False):
            (d / "config.json").write_text("x")
            raise RuntimeError
    assert not d.exists()
    d.mkdir()  # an empty directory the user made stays, empty
    with pytest.raises(RuntimeError):
        with ReplaceDir(d, overwrite=False):
            (d / "config.json").write_text("x")
            raise RuntimeError
    assert d.is_dir() and not any(d.iterdir())


def test_after_commit_the_new_output_stays_on_failure(tmp_path):
    d = tmp_path / "run"
    make_run(d)
    with pytest.raises(RuntimeError):
        with ReplaceDir(d, overwrite=True) as rd:
            (d / "last.pt").write_text("epoch 1")
            rd.commit()
            raise RuntimeError("epoch 2 failed")
    assert tree(d) == ["last.pt=epoch 1"] and is_run_dir(d)


def test_replace_dir_swaps_a_finished_directory_in(tmp_path):
    target, new = tmp_path / "repo", tmp_path / "staging"
    target.mkdir()
    (target / "old").write_text("o")
    new.mkdir()
    (new / "model").write_text("n")
    replace_dir(new, target)
    assert tree(target) == ["model=n"] and sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
