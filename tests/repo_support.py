"""Run dvc in a temporary copy of the repository: copying it, isolating it, changing its params.

A copy holds the working tree's files that git tracks or would track (work in progress is
tested too). Commands run there with <copy>/src first on PYTHONPATH, so the copy's code is what
the stages import, and with their own DVC and Azure config directories under a home folder, so
nothing of this machine's configuration leaks in. The integration, release and CI tests build
their repositories from these pieces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
GIT_TIMEOUT = 60.0
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "underwrite tests",
    "GIT_AUTHOR_EMAIL": "tests@underwrite.invalid",
    "GIT_COMMITTER_NAME": "underwrite tests",
    "GIT_COMMITTER_EMAIL": "tests@underwrite.invalid",
}


def working_tree_files(root: Path) -> list[str]:
    """Files git tracks or would track (not ignored), as they are now in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=True,
    ).stdout
    return sorted({p for p in listed.split("\0") if p and (root / p).is_file()})


def pipeline_outputs(repo: Path, stages: Collection[str] | None = None) -> dict[str, bool]:
    """The outputs (outs, metrics, plots) dvc.yaml declares for STAGES (default all), as
    path -> cached by dvc."""
    declared = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    outputs = {}
    for name, stage in declared.items():
        if stages is not None and name not in stages:
            continue
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                path, options = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
                outputs[path] = (options or {}).get("cache", True)
    return outputs


def generated_files(repo: Path) -> tuple[str, ...]:
    """What `dvc repro` writes: every declared output, and dvc.lock."""
    return (*pipeline_outputs(repo), "dvc.lock")


def copy_project(src_root: Path, dest: Path, skip: Iterable[str] = ()) -> list[str]:
    """Copy SRC_ROOT's working-tree files to DEST, except SKIP (paths, or folders whose files
    are all left out); return the copied paths."""
    skipped = tuple(skip)
    copied = [
        name
        for name in working_tree_files(src_root)
        if not any(name == path or name.startswith(f"{path}/") for path in skipped)
    ]
    for name in copied:
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_root / name, dest / name)
    return copied


def isolated_env(
    code_root: Path, home: Path, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """This process's environment for commands on CODE_ROOT's code, with this venv first on
    PATH, no AZURE_*/DVC_* settings of this machine, dvc's and az's config under HOME, a git
    identity; EXTRA last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "DVC_"))}
    env |= {
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
        "PYTHONPATH": str(code_root / "src"),
        "DVC_NO_ANALYTICS": "1",
        "DVC_SITE_CACHE_DIR": str(home / "dvc-site"),
        "DVC_GLOBAL_CONFIG_DIR": str(home / "dvc-global"),
        "DVC_SYSTEM_CONFIG_DIR": str(home / "dvc-system"),
        "AZURE_CONFIG_DIR": str(home / "azure"),  # dvc-azure reads az CLI config
        **GIT_IDENTITY,
    }
    return env | dict(extra or {})


def set_params(params_path: Path, changes: Mapping[str, Any]) -> None:
    """Set dotted keys of a params.yaml (keeping the rest), e.g.
    {"train.hist_gradient_boosting.max_depth": 2}; every key must already exist there."""
    params = yaml.safe_load(params_path.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split(".")
        section = params
        for key in parents:
            section = section.get(key) if isinstance(section, dict) else None
        if not isinstance(section, dict) or leaf not in section:
            raise KeyError(f"{params_path} has no key '{dotted}'; set only keys it has")
        section[leaf] = value
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))


@dataclass(frozen=True)
class TrainedTemplate:
    """The project in a fresh git repository: a scaffold commit (no outputs, no dvc.lock, as a
    first pull request's base sees it), then one `dvc repro` from scratch, committed."""

    path: Path
    scaffold: str
    trained: str

    def copy(self, dest: Path) -> Path:
        """A byte-for-byte copy at DEST: git history, outputs and .dvc/cache included."""
        shutil.copytree(self.path, dest, symlinks=True, ignore=ignore_dvc_tmp)
        return dest


def ignore_dvc_tmp(folder: str, names: list[str]) -> list[str]:
    # .dvc/tmp holds locks and process state of the source's own dvc runs
    return ["tmp"] if Path(folder).name == ".dvc" else []


def train_template(dest: Path, timeout: float = 900.0) -> TrainedTemplate:
    """Build the shared trained template at DEST (the suite's one full `dvc repro`)."""
    copy_project(REPO_ROOT, dest, skip=generated_files(REPO_ROOT))
    env = isolated_env(dest, dest.parent / "home")

    def run(*command: str) -> str:
        done = subprocess.run(
            command, cwd=dest, env=env, capture_output=True, text=True, timeout=timeout
        )
        if done.returncode:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
        return done.stdout.strip()

    def commit(message: str) -> str:
        run("git", "add", "-A")
        run("git", "commit", "-q", "--allow-empty", "-m", message)
        return run("git", "rev-parse", "HEAD")

    run("git", "init", "-q", "-b", "main")
    scaffold = commit("scaffold: the project's files, no pipeline outputs")
    run(str(VENV_BIN / "dvc"), "repro")
    return TrainedTemplate(dest, scaffold, commit("dvc repro"))


# Every gate key loosened as far as it goes: a candidate's own policy, which the gate ignores.
LOOSENED_GATE: dict[str, Any] = {
    **{f"gate.margins.{name}": 1.0 for name in ("roc_auc", "pr_auc", "brier")},
    "gate.margins.log_loss": 10.0,
    "gate.margins.calibration_in_the_large": 1.0,
    "gate.floors.roc_auc": 0.0,
    "gate.floors.brier": 1.0,
    **{
        f"gate.fairness.{attribute}.{name}": 1.0
        for attribute in ("race", "sex")
        for name in ("approval_rate_gap", "tpr_gap")
    },
    "gate.fairness.race.adverse_impact_ratio": 0.0,
    "gate.fairness.sex.adverse_impact_ratio": 0.0,
}
