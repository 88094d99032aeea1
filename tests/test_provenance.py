"""leanecg.provenance: run metadata, git state inside and outside a checkout."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from leanecg.provenance import PACKAGES, collect_provenance, git_state, package_versions

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    cmd = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false", *args]
    return subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def test_provenance_keys_and_json(tmp_path):
    from leanecg.train.trainer import TrainConfig

    prov = collect_provenance(
        seed=7, config=TrainConfig(epochs=2), command=["leanecg", "bench", "x y"], note="n"
    )
    for key in (
        "seed",
        "config",
        "git_commit",
        "git_dirty",
        "timestamp_utc",
        "python",
        "platform",
        "cpu_count",
        "cpus_available",
        "packages",
        "command",
    ):
        assert key in prov, key
    assert prov["seed"] == 7 and prov["config"]["epochs"] == 2 and prov["note"] == "n"
    assert prov["command"] == "leanecg bench 'x y'"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", prov["timestamp_utc"])
    assert prov["python"] == ".".join(map(str, sys.version_info[:3]))
    assert prov["cpu_count"] == os.cpu_count() and 1 <= prov["cpus_available"] <= os.cpu_count()
    assert json.loads(json.dumps(prov)) == prov


def test_package_versions_match_installed_distributions():
    versions = package_versions()
    assert (
        set(versions)
        == set(PACKAGES)
        == {
            "numpy",
            "scipy",
            "torch",
            "sklearn",
            "lightgbm",
            "onnxruntime",
            "wfdb",
            "leanecg",
        }
    )
    assert versions["numpy"] == metadata.version("numpy")
    assert versions["sklearn"] == metadata.version("scikit-learn")
    assert versions["torch"] == metadata.version("torch")
    assert versions["leanecg"] is not None


@needs_git
def test_git_commit_and_dirty_flag(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    _git(repo, "add", "a.py")
    _git(repo, "commit", "-q", "-m", "first")
    head = _git(repo, "rev-parse", "HEAD")
    assert git_state(repo) == (head, False)
    assert git_state(repo / "a.py") == (head, False)  # a file inside the checkout works too
    (repo / "a.py").write_text("x = 2\n")
    assert git_state(repo) == (head, True)
    _git(repo, "checkout", "-q", "--", "a.py")
    (repo / "new.py").write_text("")  # untracked code also makes the tree dirty
    assert git_state(repo) == (head, True)
    (repo / ".gitignore").write_text("new.py\n.gitignore\n")  # ignored files do not
    assert git_state(repo) == (head, False)
    prov = collect_provenance(source=repo)
    assert prov["git_commit"] == head and prov["git_dirty"] is False


def test_outside_a_checkout_the_commit_is_unknown(tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    env_ceiling = os.environ.get("GIT_CEILING_DIRECTORIES")
    os.environ["GIT_CEILING_DIRECTORIES"] = str(tmp_path)  # do not find a repository above tmp_path
    try:
        assert git_state(folder) == ("unknown", None)
        assert git_state(tmp_path / "missing") == ("unknown", None)
    finally:
        if env_ceiling is None:
            del os.environ["GIT_CEILING_DIRECTORIES"]
        else:
            os.environ["GIT_CEILING_DIRECTORIES"] = env_ceiling


@needs_git
def test_default_source_is_leanecgs_own_checkout():
    import leanecg

    commit, dirty = git_state()
    src = Path(leanecg.__file__).resolve().parent
    inside = subprocess.run(
        ["git", "ls-files", "--error-unmatch", "__init__.py"], cwd=src, capture_output=True, check=False
    )
    if inside.returncode != 0:
        assert (commit, dirty) == ("unknown", None)
    else:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, check=True
        )
        assert commit == head.stdout.strip() and isinstance(dirty, bool)
