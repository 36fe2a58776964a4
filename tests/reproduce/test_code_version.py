"""The code version a step records: the DAG bundle's version, else a git commit, marked
``-dirty`` when tracked files have uncommitted changes."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from airflow_lineage.operators.steps import _bundle_version, _git_commit, _in_work_tree


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def test_a_modified_work_tree_is_marked_dirty(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "dag.py").write_text("x = 1\n")
    _git(repo, "add", "dag.py")
    _git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    sha = _git(repo, "rev-parse", "HEAD")
    _git_commit.cache_clear()
    (repo / "notes.txt").write_text("untracked files are not code the DAG runs\n")
    assert _git_commit(str(repo)) == sha
    _git_commit.cache_clear()
    (repo / "dag.py").write_text("x = 2\n")
    assert _git_commit(str(repo)) == f"{sha}-dirty"
    _git_commit.cache_clear()
    assert _git_commit(str(tmp_path)) is None  # not a work tree: no code version


def test_git_is_started_only_where_it_could_find_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    (repo / "dags" / "deep").mkdir(parents=True)
    _git(repo, "init", "-q")
    assert _in_work_tree(str(repo / "dags" / "deep"))
    assert _in_work_tree(str(repo))
    assert not _in_work_tree(str(tmp_path))
    worktree = tmp_path / "linked"  # a linked work tree has a .git file, not a folder
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {repo}/.git\n")
    assert _in_work_tree(str(worktree))
    monkeypatch.setenv("GIT_DIR", str(repo / ".git"))
    assert _in_work_tree(str(tmp_path))


class _Bundle:
    def __init__(self, versioned: bool, version: str | None, current: str | None) -> None:
        self.supports_versioning = versioned
        self.version = version
        self._current = current

    def get_current_version(self) -> str | None:
        return self._current


def test_the_bundle_version_comes_first_where_the_bundle_has_one() -> None:
    def ctx(bundle: object) -> dict[str, object]:
        return {"ti": SimpleNamespace(bundle_instance=bundle)}

    assert _bundle_version(ctx(_Bundle(True, "3f2a9c1", None))) == "3f2a9c1"
    assert _bundle_version(ctx(_Bundle(True, None, "77aa00b"))) == "77aa00b"
    assert _bundle_version(ctx(_Bundle(False, None, None))) is None  # the local dags folder
    assert _bundle_version({}) is None
