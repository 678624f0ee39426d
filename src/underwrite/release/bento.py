"""A registered version as a bento: its model file from DVC, the BentoML model store, the build.

The model file is the one dvc.lock pinned at the version's commit, read from the DVC cache
(or the remote) with dvc.api and checked against that md5. It is imported by
underwrite.serving.store from a throwaway clone of the repository at that commit, so its
labels (git commit, model md5, data version) and metrics describe that version and not
the working tree. The registry's version and stage are mirrored onto the stored model as
the labels `registry_version` and `stage`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import bentoml

from underwrite.release import ReleaseError
from underwrite.release.deploy import Serving
from underwrite.release.registry import STAGES, ModelVersion, Registry

log = logging.getLogger(__name__)

BUILD_TIMEOUT = 900
CLONE_TIMEOUT = 120


@dataclass(frozen=True)
class Built:
    tag: str
    model_tag: str
    model_md5: str

    def serving(self, version: ModelVersion) -> Serving:
        """What a deployment of this bento serves."""
        return Serving(version.version, self.tag, self.model_tag, self.model_md5)


def checkout(registry: Registry, version: ModelVersion, into: Path) -> Path:
    """A clone of the repository at the version's commit, with its model file in place."""
    for command in (
        ["git", "clone", "--quiet", "--shared", "--no-checkout", str(registry.repo), str(into)],
        ["git", "-C", str(into), "checkout", "--quiet", version.commit],
    ):
        subprocess.run(command, capture_output=True, timeout=CLONE_TIMEOUT, check=True)
    path = registry.artifact_path(version.commit)
    write_model_file(registry, version, (into / path).parent)
    return into


def model_bytes(registry: Registry, commit: str, path: str) -> bytes:
    """The model file as DVC stored it for `commit` (local cache first, then the remote)."""
    import dvc.api
    from dvc.exceptions import DvcException

    try:
        with dvc.api.open(path, repo=str(registry.repo), rev=commit, mode="rb") as handle:
            return handle.read()
    except (DvcException, FileNotFoundError) as err:
        raise ReleaseError(
            f"the model {path} of commit {commit[:7]} is neither in the DVC cache nor on the "
            f"remote ({err}); run `dvc pull` (or `dvc push` where it was trained)"
        ) from err


def write_model_file(registry: Registry, version: ModelVersion, folder: Path) -> Path:
    """The version's model file, checked against dvc.lock, written to FOLDER/<its name>."""
    path, md5 = registry.artifact_path(version.commit), registry.model_md5(version.commit)
    content = model_bytes(registry, version.commit, path)
    if hashlib.md5(content).hexdigest() != md5:
        raise ReleaseError(f"{version}: {path} from DVC does not have the md5 {md5} of dvc.lock")
    target = folder / Path(path).name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    return target


def store_model(registry: Registry, version: ModelVersion) -> bentoml.Model:
    """The version's model in the BentoML store (imported once; later calls find it)."""
    from underwrite.serving.store import ModelImportError, import_model

    with tempfile.TemporaryDirectory(prefix="underwrite-release-") as tmp:
        clone = checkout(registry, version, Path(tmp) / "repo")
        try:
            tag = import_model(Path(registry.artifact_path(version.commit)), clone)
        except ModelImportError as err:
            raise ReleaseError(f"{version}: {err}") from err
    model = bentoml.models.get(tag)
    set_labels(model, {"registry_version": version.version})
    return model


def set_labels(model: bentoml.Model, labels: dict[str, str]) -> None:
    """Update a stored model's labels in place (model.yaml); the model file is untouched."""
    model.info.labels.update(labels)
    model.flush()


def mirror_stages(registry: Registry) -> None:
    """Label every stored model of the artifact with the stage the registry gives it."""
    current = {stage: registry.in_stage(stage) for stage in STAGES}
    for model in bentoml.models.list(registry.artifact):
        version = model.info.labels.get("registry_version")
        stages = [s for s, v in current.items() if v is not None and v.version == version]
        stage = "prod" if "prod" in stages else (stages[0] if stages else "none")
        if model.info.labels.get("stage") != stage:
            set_labels(model, {"stage": stage})


def build_env(repo: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment for `bentoml build`, which locks packages with uv: when uv is not on
    PATH, the copy `make setup` bootstraps into .tools/bin is put there (else BentoML would
    try to pip-install uv into a venv that has no pip)."""
    env = {**os.environ, **extra}
    tools = Path(repo).resolve() / ".tools" / "bin"
    if shutil.which("uv", path=env.get("PATH")) is None and (tools / "uv").exists():
        env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    return env


def build(repo: Path, registry: Registry, version: ModelVersion) -> Built:
    """`bentoml build` of the service with the version's model packed inside."""
    model = store_model(registry, version)
    md5 = model.info.labels["model_md5"]
    labels = {"registry_version": version.version, "model_md5": md5, "git_commit": version.commit}
    command = [sys.executable, "-m", "bentoml", "build", "--output", "tag", str(repo)]
    for key, value in labels.items():
        command += ["--label", f"{key}={value}"]
    # the service packs the model named by UNDERWRITE_MODEL_TAG (see underwrite.serving.service)
    env = build_env(repo, {"UNDERWRITE_MODEL_TAG": str(model.tag)})
    log.info("building a bento of %s with model %s", version, model.tag)
    try:
        done = subprocess.run(
            command, cwd=repo, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT
        )
    except subprocess.TimeoutExpired as err:
        raise ReleaseError(f"bentoml build took over {BUILD_TIMEOUT} s") from err
    if done.returncode != 0:
        raise ReleaseError(f"bentoml build failed for {version}:\n{done.stderr[-3000:]}")
    tag = done.stdout.strip().splitlines()[-1].removeprefix("__tag__:")
    built = Built(tag=tag, model_tag=str(model.tag), model_md5=md5)
    packed = [str(m.tag) for m in bentoml.get(tag).info.all_models]
    if packed != [built.model_tag]:
        raise ReleaseError(f"bento {tag} packs {packed}, expected only {built.model_tag}")
    log.info("built %s", tag)
    return built


def find(registry: Registry, version: ModelVersion) -> Built | None:
    """The newest bento already built for this version (same model md5), if any."""
    md5 = registry.model_md5(version.commit)
    candidates = [
        b
        for b in bentoml.list()
        if b.info.labels.get("registry_version") == version.version
        and b.info.labels.get("model_md5") == md5
    ]
    if not candidates:
        return None
    newest = max(candidates, key=lambda b: b.info.creation_time)
    return Built(str(newest.tag), str(newest.info.all_models[0].tag), md5)
