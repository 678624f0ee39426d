"""The trained Pipeline in the BentoML model store, labelled with where it came from.

The store holds a byte-identical copy of ``models/model.joblib`` (so its md5 is the one in
``dvc.lock``), labels that tie it to its origin (git commit, model md5, data version) and
metadata the service needs at run time (decision threshold, whether protected attributes
are inputs, golden predictions, approved applicants' typical values for the reasons of a
denial) or a reviewer wants to see (evaluation metrics, how the served predictor was checked
against the Pipeline). The compiled serving form (``serving.compiled``) is cached beside the
model file, tagged with that file's md5.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bentoml
import joblib
import pandas as pd
import sklearn
import yaml

from underwrite import repo as repo_files
from underwrite.io import file_md5
from underwrite.params import load_params
from underwrite.paths import (
    DVC_LOCK,
    DVC_YAML,
    MODEL,
    MODEL_ARTIFACT,
    MODEL_CARD,
    PARAMS,
    TEST_DATA,
    TRAIN_DATA,
)
from underwrite.schema import feature_columns, names
from underwrite.serving import compiled, equality
from underwrite.serving.contract import golden_applications
from underwrite.serving.reasons import typical_values

log = logging.getLogger(__name__)

MODEL_NAME = MODEL_ARTIFACT
MODEL_FILE = "model.joblib"
GOLDEN_FILE = "golden.json"
COMPILED_FILE = "compiled.joblib"  # the serving form, derived from MODEL_FILE
DATA_PATH = "data/raw/applications.parquet"  # its md5 in dvc.lock is the data version


class ModelImportError(ValueError):
    """The model cannot be imported: the message names the file and what to run."""


@dataclass(frozen=True)
class Origin:
    """Where a model file comes from, read from the repository that produced it."""

    git_commit: str
    git_dirty: bool
    model_md5: str
    data_md5: str
    metrics: dict[str, Any]
    threshold: float
    include_protected: bool

    def labels(self) -> dict[str, str]:
        return {
            "git_commit": self.git_commit,
            "git_dirty": str(self.git_dirty).lower(),
            "model_md5": self.model_md5,
            "data_md5": self.data_md5,
            "dvc_artifact": MODEL_NAME,
        }


def _lock_md5(lock: dict, path: str, lock_file: Path) -> str:
    md5 = repo_files.out_md5(lock, path)
    if md5 is None:
        raise ModelImportError(f"{lock_file}: no stage outputs {path}; run `dvc repro` first")
    return md5


def _git(repo: Path, *args: str) -> str:
    try:
        return repo_files.git(repo, *args)
    except repo_files.RepoError as err:
        raise ModelImportError(f"{repo}: not a git repository ({err})") from err


def _metrics_file(repo: Path, model: str) -> Path:
    """The evaluation metrics of `model`, as dvc.yaml declares them."""
    dvc_yaml = repo_files.load_yaml((repo / DVC_YAML).read_text())
    found = repo_files.evaluation_metrics(dvc_yaml, model)
    if found is None:
        raise ModelImportError(f"{repo / DVC_YAML}: no stage evaluates {model}")
    return repo / found


def read_origin(model_path: Path, repo: Path) -> Origin:
    """The labels and metadata of ``model_path`` from dvc.lock, metrics.json and params.yaml.

    Refuses a model file that is not the version dvc.lock records.
    """
    lock_file = repo / DVC_LOCK
    if not lock_file.is_file():
        raise ModelImportError(f"{lock_file}: no such file; run `dvc repro` first")
    lock = yaml.safe_load(lock_file.read_text()) or {}
    try:
        relative = model_path.resolve().relative_to(repo.resolve()).as_posix()
    except ValueError as err:
        raise ModelImportError(f"{model_path} is not inside the repository {repo}") from err
    model_md5 = _lock_md5(lock, relative, lock_file)
    actual = file_md5(model_path)
    if actual != model_md5:
        from underwrite.storage.cache import repair_advice

        raise ModelImportError(
            f"{model_path} (md5 {actual}) is not the version dvc.lock records ({model_md5}); "
            + repair_advice(repo, model_md5, relative)
        )
    metrics_file = _metrics_file(repo, relative)
    if not metrics_file.is_file():
        raise ModelImportError(f"{metrics_file}: no such file; run `dvc repro` first")
    params = load_params(repo / PARAMS)
    return Origin(
        git_commit=_git(repo, "rev-parse", "HEAD"),
        git_dirty=bool(_git(repo, "status", "--porcelain", "--untracked-files=no")),
        model_md5=model_md5,
        data_md5=_lock_md5(lock, DATA_PATH, lock_file),
        metrics=json.loads(metrics_file.read_text()),
        threshold=params.evaluate.threshold,
        include_protected=params.features.include_protected,
    )


def golden_predictions(pipeline: Any, include_protected: bool) -> dict[str, list]:
    """The golden applications and this model's probabilities of approval for them."""
    applications = golden_applications()
    columns = names(feature_columns(include_protected))
    frame = pd.DataFrame.from_records(applications, columns=columns).astype("float64")
    return {
        "applications": applications,
        "probabilities": pipeline.predict_proba(frame)[:, 1].tolist(),
    }


def find_existing(origin: Origin) -> bentoml.Tag | None:
    """A stored model with the same file and the same decision threshold, if any."""
    try:
        stored = bentoml.models.list(MODEL_NAME)
    except bentoml.exceptions.NotFound:
        return None
    for model in stored:
        same_file = model.info.labels.get("model_md5") == origin.model_md5
        if same_file and model.info.metadata.get("threshold") == origin.threshold:
            return model.tag
    return None


def import_model(model_path: Path = MODEL, repo: Path = Path(".")) -> bentoml.Tag:
    """Import the trained Pipeline into the BentoML model store; return its tag.

    A relative ``model_path`` is relative to ``repo``. Importing a model already in the
    store (same md5 and threshold) returns the existing tag instead of a new version.
    """
    model_path = model_path if model_path.is_absolute() else repo / model_path
    if not model_path.is_file():
        raise ModelImportError(f"{model_path}: no such file; run `dvc repro` or `dvc pull`")
    origin = read_origin(model_path, repo)
    if (existing := find_existing(origin)) is not None:
        log.info("model %s is already in the store as %s", origin.model_md5, existing)
        return existing
    pipeline = joblib.load(model_path)
    golden = golden_predictions(pipeline, origin.include_protected)
    predictor, checked = serving_form(pipeline, origin, repo)
    metadata = {
        "metrics": origin.metrics,
        "threshold": origin.threshold,
        "include_protected": origin.include_protected,
        "scikit_learn": sklearn.__version__,
        "predictor": _describe(predictor, checked),
        "typical": _typical(repo, origin.include_protected),
        "model_card": model_card(repo, origin.git_commit),
    }
    with bentoml.models.create(MODEL_NAME, labels=origin.labels(), metadata=metadata) as model:
        shutil.copyfile(model_path, model.path_of(MODEL_FILE))
        Path(model.path_of(GOLDEN_FILE)).write_text(json.dumps(golden, indent=1))
        if isinstance(predictor, compiled.CompiledPredictor):
            joblib.dump(predictor, model.path_of(COMPILED_FILE))
    log.info("imported %s as %s", model_path, model.tag)
    return model.tag


def serving_form(pipeline: Any, origin: Origin, repo: Path) -> tuple[Any, dict[str, dict]]:
    """The predictor the service will run, checked equal to the Pipeline on the holdout
    (when the repository has it), the golden applications and the random sweep."""
    columns = names(feature_columns(origin.include_protected))
    predictor = compiled.build(pipeline, columns, origin.model_md5)
    sweep = equality.readiness_frame(origin.include_protected)
    frames = {"the golden applications and the random sweep": sweep}
    if (repo / TEST_DATA).is_file():
        frames[f"the holdout ({TEST_DATA})"] = pd.read_parquet(repo / TEST_DATA)[columns]
    else:
        log.warning("%s: not in %s, so the equality check leaves it out", TEST_DATA, repo)
    checked = {}
    for what, frame in frames.items():
        try:
            found = equality.require_equal(
                predictor, pipeline, frame.astype("float64"), origin.threshold, what
            )
            equality.require_additive(predictor, frame.astype("float64"), what)
        except equality.PredictorMismatch as err:
            raise ModelImportError(f"{origin.model_md5}: {err}") from err
        checked[what] = found.summary()
    return predictor, checked


def _describe(predictor: Any, checked: dict[str, dict]) -> dict:
    form = "compiled" if isinstance(predictor, compiled.CompiledPredictor) else "pipeline"
    described = {"form": form, "equality": checked}
    if form == "pipeline":
        described["reason"] = predictor.reason
    return described


def _typical(repo: Path, include_protected: bool) -> dict[str, dict[str, float]]:
    """Approved training applications' typical values, for the sentences of reasons: from
    the working tree, or else from DVC (a release clone has no data checked out)."""
    columns = names(feature_columns(include_protected))
    if (repo / TRAIN_DATA).is_file():
        return typical_values(pd.read_parquet(repo / TRAIN_DATA), columns)
    for source, rev in _data_sources(repo):
        try:
            with _dvc_open(TRAIN_DATA, source, rev) as handle:
                return typical_values(pd.read_parquet(handle), columns)
        except Exception as err:  # no cache, no remote, no credentials: all mean "not here"
            log.info("%s from DVC in %s: %s", TRAIN_DATA, source, err)
    log.warning("%s: not in %s nor from DVC; no typical values for reasons", TRAIN_DATA, repo)
    return {}


def _data_sources(repo: Path) -> list[tuple[str, str | None]]:
    """Where DVC may find the data: the repository, then (for a clone, as the release tooling
    makes) the repository it was cloned from, at the same commit, with that one's cache."""
    sources: list[tuple[str, str | None]] = [(str(repo), None)]
    try:
        origin = repo_files.git(repo, "remote", "get-url", "origin")
        sources.append((origin, repo_files.git(repo, "rev-parse", "HEAD")))
    except repo_files.RepoError:
        pass
    return sources


def _dvc_open(path: Path, source: str, rev: str | None):
    import dvc.api

    return dvc.api.open(path.as_posix(), repo=source, rev=rev, mode="rb")


def load_predictor(model: bentoml.Model, pipeline: Any, columns: list[str]) -> Any:
    """The compiled form cached beside the model when it was compiled from this model file
    by this compiler; otherwise compiled now (or the Pipeline, when it does not compile)."""
    md5 = model.info.labels["model_md5"]
    path = Path(model.path_of(COMPILED_FILE))
    if path.is_file():
        try:
            cached = joblib.load(path)
        except (AttributeError, ImportError, TypeError) as err:  # another compiler's classes
            cached = None
            log.info("%s: cannot be read by this compiler (%s)", path, err)
        same = cached is not None and cached.source_md5 == md5
        if same and cached.version == compiled.COMPILER_VERSION and cached.columns == columns:
            return cached
        log.info("%s: compiled from another model or compiler; compiling again", path)
    return compiled.build(pipeline, columns, md5)


def load_pipeline(model: bentoml.Model) -> Any:
    """The fitted Pipeline inside a stored model."""
    return joblib.load(model.path_of(MODEL_FILE))


def load_golden(model: bentoml.Model) -> dict[str, list]:
    """The golden applications and the probabilities recorded when the model was imported."""
    return json.loads(Path(model.path_of(GOLDEN_FILE)).read_text())


def model_card(repo: Path, git_commit: str) -> str:
    """The pipeline's model card with the commit it came from, travelling inside the model (and
    so inside every bento built with it); empty when the pipeline wrote none."""
    card = repo / MODEL_CARD
    if not card.is_file():
        return ""
    return card.read_text().replace(
        "the commit that records this dvc.lock", git_commit or "not committed"
    )
