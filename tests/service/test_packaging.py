"""bentofile.yaml: `bentoml build` packs the service, its model and uv.lock's packages."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import bentoml
import pytest
import sklearn
from bentoml_support import REPO_ROOT

EXPORT = ["export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes"]


def uv() -> str:
    found = shutil.which("uv") or REPO_ROOT / ".tools" / "bin" / "uv"
    assert Path(found).exists(), "uv is not installed: run `make setup`"
    return str(found)


def test_requirements_txt_is_what_uv_lock_pins():
    exported = subprocess.run(
        [uv(), *EXPORT, "--quiet"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    committed = (REPO_ROOT / "requirements.txt").read_text()
    assert pins(committed) == pins(exported), "requirements.txt is stale: run `make requirements`"


def pins(requirements: str) -> list[str]:
    return sorted(line for line in requirements.splitlines() if "==" in line)


@pytest.mark.integration
def test_bentoml_build_packs_the_service_its_model_and_locked_packages(model_tag: str):
    env = dict(os.environ, UNDERWRITE_MODEL_TAG=model_tag)
    built = subprocess.run(
        [sys.executable, "-m", "bentoml", "build", "--output", "tag", str(REPO_ROOT)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    bento = bentoml.get(built.stdout.strip().splitlines()[-1].removeprefix("__tag__:"))
    assert [str(m.tag) for m in bento.info.all_models] == [model_tag]
    source = Path(bento.path) / "src"
    assert (source / "underwrite" / "serving" / "service.py").is_file()
    assert sorted(p.name for p in source.iterdir()) == ["README.md", "bentofile.yaml", "underwrite"]
    requirements = (Path(bento.path) / "env" / "python" / "requirements.txt").read_text()
    assert f"scikit-learn=={sklearn.__version__}" in requirements.splitlines()
    threads = {e.name: e.value for e in bento.info.envs}
    assert threads["OMP_NUM_THREADS"] == threads["OPENBLAS_NUM_THREADS"] == "1"
