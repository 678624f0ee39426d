"""Every stage declares what it depends on, so dvc never reuses a result that should re-run.

dvc.yaml is read by dvc itself (variables resolved); the code a stage imports is found by
ModuleFinder, which follows `python -m underwrite.stages.X` through the package like Python
does, imports inside functions included. Doctored copies of dvc.yaml show the checks catch a
dependency that goes missing.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass
from modulefinder import ModuleFinder
from pathlib import Path

import pytest
import yaml

from underwrite.params import Params

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "underwrite"
STAGE_MODULE = re.compile(rf"\bpython -m ({PACKAGE}(?:\.\w+)+)")
# params.yaml's top-level sections by the attribute a stage reads them with (validate_ -> validate)
SECTIONS = {name: field.alias or name for name, field in Params.model_fields.items()}

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Stage:
    """A stage as dvc resolves it from dvc.yaml."""

    cmd: str
    deps: frozenset[str]
    params: frozenset[str]
    outs: frozenset[str]

    @property
    def module(self) -> str:
        found = STAGE_MODULE.search(self.cmd)
        assert found, f"stage command {self.cmd!r} does not run `python -m {PACKAGE}....`"
        return found.group(1)


def resolved_stages(root: Path) -> dict[str, Stage]:
    """The stages of ROOT/dvc.yaml as dvc reads them, with ${...} variables resolved."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    with Repo(str(root), config={"core": {"no_scm": True}}) as repo:
        return {
            stage.name: Stage(
                cmd=stage.cmd,
                deps=frozenset(
                    d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)
                ),
                params=frozenset(
                    p for d in stage.deps if isinstance(d, ParamsDependency) for p in d.params
                ),
                outs=frozenset(o.def_path for o in stage.outs),
            )
            for stage in repo.index.stages
        }


def imported_files(root: Path, module: str) -> set[str]:
    """The package's files that `python -m MODULE` loads, relative to ROOT."""
    finder = ModuleFinder(path=[str(root / "src")])  # only the package is found, and followed
    finder.import_hook(module)
    return {
        Path(found.__file__).relative_to(root).as_posix()
        for name, found in finder.modules.items()
        if name.split(".")[0] == PACKAGE and found.__file__
    }


def sections_read(root: Path, module: str) -> set[str]:
    """The params.yaml sections a stage module reads off a Params object: `settings.train`
    where `settings = load_params(...)`, `params.features` where `params: Params`, or
    `load_params(...).data`."""
    source = root / "src" / Path(*module.split(".")).with_suffix(".py")
    functions = [
        node
        for node in ast.walk(ast.parse(source.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]
    return {section for function in functions for section in _sections_in(function)}


def _sections_in(function: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    arguments = [*function.args.posonlyargs, *function.args.args, *function.args.kwonlyargs]
    names = {a.arg for a in arguments if a.annotation and ast.unparse(a.annotation) == "Params"}
    names |= {
        target.id
        for node in ast.walk(function)
        if isinstance(node, ast.Assign) and _loads_params(node.value)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    return {
        SECTIONS[node.attr]
        for node in ast.walk(function)
        if isinstance(node, ast.Attribute)
        and node.attr in SECTIONS
        and (
            _loads_params(node.value)
            or (isinstance(node.value, ast.Name) and node.value.id in names)
        )
    }


def _loads_params(node: ast.expr) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "load_params"
    )


def missing_code(root: Path) -> dict[str, set[str]]:
    stages = resolved_stages(root)
    missing = {name: imported_files(root, s.module) - s.deps for name, s in stages.items()}
    return {name: files for name, files in missing.items() if files}


def missing_params(root: Path) -> dict[str, set[str]]:
    stages = resolved_stages(root)
    missing = {name: sections_read(root, s.module) - s.params for name, s in stages.items()}
    return {name: sections for name, sections in missing.items() if sections}


def missing_data(root: Path) -> dict[str, set[str]]:
    """Per stage, the outputs of other stages its command reads but its deps do not list."""
    stages = resolved_stages(root)
    produced = {out: name for name, s in stages.items() for out in s.outs}
    missing = {}
    for name, stage in stages.items():
        read = {arg for arg in stage.cmd.split() if produced.get(arg, name) != name}
        missing[name] = read - stage.deps
    return {name: paths for name, paths in missing.items() if paths}


@pytest.fixture
def pipeline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder dvc can read dvc.yaml from, with the working tree's params.yaml and src/."""
    monkeypatch.setenv("DVC_SITE_CACHE_DIR", str(tmp_path / "dvc-site"))
    monkeypatch.setenv("DVC_GLOBAL_CONFIG_DIR", str(tmp_path / "dvc-global"))
    monkeypatch.setenv("DVC_SYSTEM_CONFIG_DIR", str(tmp_path / "dvc-system"))
    root = tmp_path / "repo"
    (root / ".dvc").mkdir(parents=True)
    for name in ("dvc.yaml", "params.yaml"):
        (root / name).write_text((REPO_ROOT / name).read_text())
    (root / "src").symlink_to(REPO_ROOT / "src", target_is_directory=True)
    return root


def test_every_stage_depends_on_the_package_code_it_imports(pipeline: Path) -> None:
    stages = resolved_stages(pipeline)
    assert stages, "dvc.yaml has no stages"
    for stage in stages.values():
        own_file = "src/" + stage.module.replace(".", "/") + ".py"
        assert own_file in imported_files(pipeline, stage.module)

    assert missing_code(pipeline) == {}


def test_every_stage_declares_the_params_sections_it_reads(pipeline: Path) -> None:
    stages = resolved_stages(pipeline)
    for name, stage in stages.items():
        assert sections_read(pipeline, stage.module), f"stage {name} reads no params section"

    assert missing_params(pipeline) == {}


def test_every_stage_depends_on_the_data_it_reads(pipeline: Path) -> None:
    stages = resolved_stages(pipeline)
    watched = yaml.safe_load((pipeline / "params.yaml").read_text())["data"]["watch"]
    assert watched in stages["ingest"].deps

    assert missing_data(pipeline) == {}


PKG = "src/underwrite"


@pytest.mark.parametrize(
    ("stage", "field", "entry", "check", "expected"),
    [
        pytest.param(
            "train",
            "deps",
            "${pkg}/schema.py",
            missing_code,
            f"{PKG}/schema.py",
            id="train-code-schema",
        ),
        pytest.param(
            "evaluate",
            "deps",
            "${pkg}/fairness.py",
            missing_code,
            f"{PKG}/fairness.py",
            id="evaluate-code-fairness",
        ),
        pytest.param(
            "validate",
            "deps",
            "${pkg}/validation.py",
            missing_code,
            f"{PKG}/validation.py",
            id="validate-code-validation",
        ),
        # `python -m` runs the package's __init__ files before the stage itself
        pytest.param(
            "ingest",
            "deps",
            "${pkg}/stages/__init__.py",
            missing_code,
            f"{PKG}/stages/__init__.py",
            id="ingest-code-stages-init",
        ),
        pytest.param(
            "train", "params", "features", missing_params, "features", id="train-params-features"
        ),
        pytest.param("ingest", "params", "data", missing_params, "data", id="ingest-params-data"),
        pytest.param(
            "train",
            "deps",
            "data/processed/train.parquet",
            missing_data,
            "data/processed/train.parquet",
            id="train-data-train-split",
        ),
        pytest.param(
            "evaluate",
            "deps",
            "models/model.joblib",
            missing_data,
            "models/model.joblib",
            id="evaluate-data-model",
        ),
    ],
)
def test_missing_dependency_is_caught(
    pipeline: Path,
    stage: str,
    field: str,
    entry: str,
    check: Callable[[Path], dict[str, set[str]]],
    expected: str,
) -> None:
    dvc_yaml = yaml.safe_load((pipeline / "dvc.yaml").read_text())
    dvc_yaml["stages"][stage][field].remove(entry)
    (pipeline / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))

    assert check(pipeline) == {stage: {expected}}


def modified_deps(root: Path) -> dict[str, set[str]]:
    """Per stage, the dependencies whose content differs from what dvc.lock records (data a
    clean clone lacks counts as deleted, not modified)."""
    from dvc.repo import Repo

    with Repo(str(root)) as repo:
        status = repo.status()
    modified = {
        name.rpartition(":")[2]: {  # "dvc.yaml:train" when run from another folder
            path
            for entry in entries
            if isinstance(entry, dict)
            for path, change in entry.get("changed deps", {}).items()
            if change == "modified"
        }
        for name, entries in status.items()
    }
    return {name: paths for name, paths in modified.items() if paths}


@pytest.fixture
def locked(pipeline: Path) -> Path:
    """The pipeline folder with dvc.lock and every file the stages depend on outside src/."""
    (pipeline / "dvc.lock").write_text((REPO_ROOT / "dvc.lock").read_text())
    (pipeline / ".dvc" / "config").write_text("[core]\n    no_scm = true\n")
    for stage in resolved_stages(REPO_ROOT).values():
        for dep in stage.deps:
            source = REPO_ROOT / dep
            if not dep.startswith("src/") and source.is_file() and not dep.startswith("data/"):
                (pipeline / dep).parent.mkdir(parents=True, exist_ok=True)
                (pipeline / dep).write_bytes(source.read_bytes())
    return pipeline


def test_committed_lock_matches_the_code_and_params_it_was_run_with(locked: Path) -> None:
    # A change to code, params or uv.lock without `make repro` leaves dvc.lock stale.
    assert modified_deps(locked) == {}
    (locked / "uv.lock").write_text((locked / "uv.lock").read_text() + "\n")
    assert set(modified_deps(locked)) >= {"train", "evaluate"}
