"""params.yaml as typed objects: defaults, and loud failures that name the key."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest
import yaml

from underwrite.params import PACKAGED_SOURCE, Params, ParamsError, load_params

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
REPO_SECTIONS = yaml.safe_load(REPO_PARAMS.read_text())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    return path


def test_load_params_of_an_empty_file_gives_the_defaults(tmp_path):
    params = load_params(write(tmp_path, ""))

    assert params == Params()
    assert params.data.source == PACKAGED_SOURCE
    assert params.features.include_protected is False
    assert params.train.estimator == "hist_gradient_boosting"


def test_load_params_reads_the_values_written(tmp_path):
    text = "train:\n  estimator: logistic_regression\n  logistic_regression:\n    C: 0.5\n"

    params = load_params(write(tmp_path, text))

    assert params.train.estimator == "logistic_regression"
    assert params.train.logistic_regression.C == 0.5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("train:\n  estimater: x\n", r"train\.estimater: Extra inputs are not permitted"),
        ("trian: {}\n", r"trian: Extra inputs"),
        ("validate_:\n  min_rows: 5\n", r"validate_: Extra inputs"),
        (
            "gate:\n  fairness:\n    race:\n      approval_rate_gap: 0.3\n      tpr_gap: 0.1\n"
            "      foo: 1\n",
            r"gate\.fairness\.race\.foo: Extra inputs",
        ),
        (
            "train:\n  hist_gradient_boosting:\n    max_iter: lots\n",
            r"train\.hist_gradient_boosting\.max_iter: Input should be a valid integer",
        ),
        ("prepare:\n  seed: 1.5\n", r"prepare\.seed: Input should be a valid integer"),
        ("train:\n  estimator: random_forest\n", r"train\.estimator: Input should be"),
        ("prepare:\n  test_size: 1.5\n", r"prepare\.test_size: Input should be less than 1"),
        ("validate:\n  min_rows: 0\n", r"validate\.min_rows: Input should be greater"),
        ("features: yes\n", r"features: Input should be a mapping \(key: value\)"),
        ("- a\n- b\n", r"\(top level\): Input should be a mapping"),
        ('evaluate:\n  threshold: "0.5"\n', r"evaluate\.threshold: Input should be a valid number"),
        ('features:\n  include_protected: "yes"\n', r"features\.include_protected: .*boolean"),
        ("prepare:\n  seed: 2026-01-01\n", r"not plain YAML data"),
        ("train: [\n", r"not valid YAML"),
        ("lda:\n  alternatives: {a: {}}\n", r"lda: .*baseline 'baseline' is not one of"),
        ("features:\n  drop: hrat\n", r"features\.drop: Input should be a valid array"),
    ],
    ids=[
        "unknown-key",
        "unknown-section",
        "python-name-of-section",
        "nested-unknown-key",
        "string-for-int",
        "float-for-int",
        "unknown-estimator",
        "out-of-range",
        "below-minimum",
        "scalar-for-section",
        "not-a-mapping",
        "quoted-number",
        "quoted-bool",
        "yaml-date",
        "malformed-yaml",
        "lda-baseline-undeclared",
        "drop-not-a-list",
    ],
)
def test_load_params_bad_file_fails_naming_the_key(tmp_path, text, message):
    path = write(tmp_path, text)

    with pytest.raises(ParamsError, match=message) as caught:
        load_params(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_load_params_missing_file_says_so(tmp_path):
    with pytest.raises(ParamsError, match=r"nope\.yaml: no such file"):
        load_params(tmp_path / "nope.yaml")


@pytest.mark.parametrize("source", ["data/own.csv", "azure://loans/applications.parquet"])
def test_data_watch_must_follow_a_non_packaged_source(tmp_path, source):
    path = write(tmp_path, f"data:\n  source: {source}\n")

    with pytest.raises(ParamsError, match=rf"data\.watch must equal data\.source \('{source}'\)"):
        load_params(path)


@pytest.mark.parametrize("source", ["data/own.csv", "azure://loans/applications.parquet"])
def test_data_watch_equal_to_the_source_is_accepted(tmp_path, source):
    params = load_params(write(tmp_path, f"data:\n  source: {source}\n  watch: {source}\n"))

    assert params.data.watch == params.data.source == source


def test_params_are_frozen():
    params = Params()
    with pytest.raises(pydantic.ValidationError, match="frozen"):
        params.train.seed = 7


def _values_in(written: dict | object, parsed: dict | object, key: str = "") -> list[str]:
    """Keys whose parsed value differs from what params.yaml says."""
    if not isinstance(written, dict):
        return [] if written == parsed else [key]
    return [
        wrong
        for name, value in written.items()
        for wrong in _values_in(value, parsed.get(name, "<absent>"), f"{key}.{name}".lstrip("."))
    ]


@pytest.mark.parametrize("section", list(REPO_SECTIONS))
def test_every_section_of_the_repository_params_yaml_parses(section):
    parsed = load_params(REPO_PARAMS).model_dump(by_alias=True, mode="json")

    assert section in parsed
    assert _values_in(REPO_SECTIONS[section], parsed[section], section) == []
