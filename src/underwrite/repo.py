"""Look-ups in the project's git repository and its DVC files (dvc.yaml, dvc.lock), in one place."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

GIT_TIMEOUT = 60


class RepoError(Exception):
    """A git command failed, or a DVC file lacks what was looked up; the message says which."""


def git(repo: Path, *args: str, timeout: float = GIT_TIMEOUT) -> str:
    """Run git in `repo` and return its stripped output; a failure raises RepoError."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=timeout, check=False
        )
    except FileNotFoundError as err:
        raise RepoError(f"git is not installed ({err})") from err
    if done.returncode != 0:
        raise RepoError(f"git {' '.join(args)} in {repo}: {done.stderr.strip()}")
    return done.stdout.strip()


def show(repo: Path, rev: str, path: str) -> str | None:
    """The text of `path` at commit `rev`, or None when that commit has no such file."""
    try:
        return git(repo, "show", f"{rev}:{path}")
    except RepoError:
        return None


def out_md5(lock: dict[str, Any] | None, path: str) -> str | None:
    """The md5 a parsed dvc.lock records for the stage output `path`, or None."""
    for stage in ((lock or {}).get("stages") or {}).values():
        for out in stage.get("outs", []):
            if out.get("path") == path:
                return out.get("md5")
    return None


def artifact_path(dvc_yaml: dict[str, Any], artifact: str) -> str | None:
    """Where an artifact of dvc.yaml's `artifacts:` section lives, or None."""
    entry = (dvc_yaml.get("artifacts") or {}).get(artifact)
    return entry["path"] if entry else None


def evaluation_metrics(dvc_yaml: dict[str, Any], model_path: str) -> str | None:
    """The first metrics file of the stage that takes the model as a dep (the evaluation)."""
    for stage in (dvc_yaml.get("stages") or {}).values():
        if model_path in stage.get("deps", []) and stage.get("metrics"):
            entry = stage["metrics"][0]
            return entry if isinstance(entry, str) else next(iter(entry))
    return None


def load_yaml(text: str | None) -> dict[str, Any]:
    """A parsed YAML document, {} for None or an empty file."""
    return (yaml.safe_load(text) if text else None) or {}
