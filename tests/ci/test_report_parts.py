"""The report's pieces on small inputs: repro logs, dvc.lock drift, plot files, formatting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from underwrite.report.compare import MetricRow, _changed, data_version, nested
from underwrite.report.figures import Panel, confusion_cells, draw, figure, plot_rows, y_limits
from underwrite.report.lock import lock_drift
from underwrite.report.markdown import _delta, _param, _value
from underwrite.report.repro_log import Outcome, parse
from underwrite.report.sources import PlotSpec, ReportError, read_layout

STAGES = ["ingest", "validate", "prepare", "train", "evaluate"]
RAN = "Running stage '{}':\n> python -m underwrite.stages.{}\n"
UNCHANGED = "Stage '{}' didn't change, skipping\n"
CACHED = "Stage '{}' is cached - skipping run, checking out outputs\n"


@pytest.mark.parametrize(
    ("log", "expected"),
    [
        (
            UNCHANGED.format("ingest") + CACHED.format("validate") + RAN.format("prepare", "x"),
            [
                Outcome.UNCHANGED,
                Outcome.RESTORED,
                Outcome.RAN,
                Outcome.NOT_IN_LOG,
                Outcome.NOT_IN_LOG,
            ],
        ),
        (
            UNCHANGED.format("ingest")
            + RAN.format("validate", "validate")
            + "ERROR: failed to reproduce 'validate': failed to run: python -m x, exited with 1\n",
            [Outcome.UNCHANGED, Outcome.FAILED] + [Outcome.NOT_REACHED] * 3,
        ),
        (
            "ERROR: failed to reproduce stages: 'ingest', 'validate'\n",
            [Outcome.FAILED, Outcome.FAILED] + [Outcome.NOT_REACHED] * 3,
        ),
        ("", [Outcome.NOT_IN_LOG] * 5),
    ],
    ids=["mixed", "validate-failed", "several-failed", "empty"],
)
def test_repro_log_outcome_of_each_stage(log: str, expected: list[Outcome]) -> None:
    assert list(parse(log, STAGES).values()) == expected


def test_repro_log_keeps_stages_dvc_yaml_does_not_list() -> None:
    outcomes = parse(RAN.format("train@small", "train"), ["ingest"])

    assert outcomes == {"ingest": Outcome.NOT_IN_LOG, "train@small": Outcome.RAN}


def _lock(**stages: dict) -> bytes:
    return yaml.safe_dump({"schema": "2.0", "stages": stages}).encode()


def _stage(outs: dict[str, str], deps: dict[str, str] | None = None, params: dict | None = None):
    stage = {"cmd": "x", "outs": [{"path": p, "md5": m} for p, m in outs.items()]}
    stage["deps"] = [{"path": p, "md5": m} for p, m in (deps or {}).items()]
    if params is not None:
        stage["params"] = {"params.yaml": params}
    return stage


def test_lock_drift_is_empty_when_the_locks_agree() -> None:
    lock = _lock(train=_stage({"model": "a"}, {"data": "d"}, {"train": {"C": 1}}))

    assert lock_drift(lock, lock) == []


def test_lock_drift_names_each_output_and_input_that_differs() -> None:
    committed = _lock(train=_stage({"model": "a", "log": "l"}, {"data": "d"}, {"C": 1}))
    reproduced = _lock(train=_stage({"model": "b", "log": "l"}, {"data": "e"}, {"C": 2}))

    messages = [d.message() for d in lock_drift(committed, reproduced)]

    assert messages == [
        "output `model` of stage 'train': committed md5 a, reproduced md5 b",
        "input `data` of stage 'train': committed md5 d, reproduced md5 e",
        "params of stage 'train' differ from the committed dvc.lock",
    ]


@pytest.mark.parametrize(
    ("committed", "reproduced", "message"),
    [
        (None, _lock(train=_stage({"m": "a"})), "stage 'train' is only in the reproduced dvc.lock"),
        (
            _lock(train=_stage({"m": "a"})),
            _lock(),
            "stage 'train' is only in the committed dvc.lock",
        ),
        (
            _lock(t=_stage({"m": "a"})),
            _lock(t=_stage({})),
            "committed md5 a, reproduced md5 (none)",
        ),
    ],
    ids=["new-stage", "removed-stage", "removed-output"],
)
def test_lock_drift_names_stages_and_outputs_on_one_side_only(committed, reproduced, message):
    assert any(message in d.message() for d in lock_drift(committed, reproduced))


@pytest.mark.parametrize(
    ("raw", "rows"),
    [
        (json.dumps({"roc": [{"fpr": 0, "tpr": 1}]}).encode(), [{"fpr": 0, "tpr": 1}]),
        (
            json.dumps([{"actual": "1", "predicted": "0"}]).encode(),
            [{"actual": "1", "predicted": "0"}],
        ),
        (
            b'{"roc": [{"fpr": 0.0, "threshold": Infinity}]}',
            [{"fpr": 0.0, "threshold": float("inf")}],
        ),
        (None, None),
    ],
    ids=["dvclive-wrapped", "plain-list", "infinity", "absent"],
)
def test_plot_rows_reads_dvclive_files(raw: bytes | None, rows: list | None) -> None:
    assert plot_rows(raw) == rows


def test_confusion_cells_count_per_application_rows_and_per_cell_counts_alike() -> None:
    per_application = [{"actual": a, "predicted": p} for a, p in ["11", "11", "01", "10", "11"]]
    per_cell = [
        {"actual": "0", "predicted": "0", "count": 0},
        {"actual": "0", "predicted": "1", "count": 1},
        {"actual": "1", "predicted": "0", "count": 1},
        {"actual": "1", "predicted": "1", "count": 3},
    ]

    expected = (["0", "1"], [[0, 1], [1, 3]])
    assert confusion_cells(per_application, "actual", "predicted") == expected
    assert confusion_cells(per_cell, "actual", "predicted") == expected


def test_draw_writes_a_png_even_when_one_side_has_no_plot(tmp_path: Path) -> None:
    roc = PlotSpec("plots/roc.json", x="fpr", y="tpr", title="ROC")
    confusion = PlotSpec("c.json", x="actual", y="predicted", title="CM", template="confusion")
    rows = [{"actual": "1", "predicted": "1"}, {"actual": "0", "predicted": "1"}]

    first = draw(
        roc, [Panel("base", None), Panel("head", [{"fpr": 0, "tpr": 0}])], tmp_path / "r.png"
    )
    second = draw(confusion, [Panel("base", rows), Panel("head", rows)], tmp_path / "c.png")

    assert first.read_bytes().startswith(b"\x89PNG") and second.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("row", "shown"),
    [
        (MetricRow("roc_auc", 0.8, 0.85), "+0.0500"),
        (MetricRow("brier", 0.07, 0.06), "-0.0100"),
        (MetricRow("f1", 0.9, 0.9), "0"),
        (MetricRow("f1", 0.1 + 0.2, 0.3), "0"),  # floating-point rounding, not a change
        (MetricRow("f1", 0.9, 0.90000001), "+0.000000010"),  # a real change stays visible
        (MetricRow("gap", 0.00002, 0.00005), "+0.000030"),
        (MetricRow("f1", None, 0.9), "new"),
        (MetricRow("f1", 0.9, None), "removed"),
    ],
)
def test_metric_change_is_signed_and_says_new_or_removed(row: MetricRow, shown: str) -> None:
    assert _delta(row) == shown


def test_nested_rebuilds_metrics_json_for_the_gate() -> None:
    rows = [
        MetricRow("roc_auc", 0.8, 0.9),
        MetricRow("fairness.race.tpr_gap", None, 0.1),
    ]

    assert nested(rows, "head") == {"roc_auc": 0.9, "fairness": {"race": {"tpr_gap": 0.1}}}
    assert nested(rows, "base") == {"roc_auc": 0.8}
    assert nested([MetricRow("x", None, 1.0)], "base") is None


def test_data_version_is_the_raw_data_md5_in_dvc_lock() -> None:
    lock = _lock(ingest=_stage({"data/raw/applications.parquet": "abc"}))

    assert data_version(lock, "data/raw/applications.parquet") == "abc"
    assert data_version(lock, "other.parquet") is None
    assert data_version(None, "data/raw/applications.parquet") is None


def test_layout_follows_dvc_yaml(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text(
        yaml.safe_dump(
            {
                "stages": {
                    "ingest": {"cmd": "x", "outs": ["raw.parquet"]},
                    "validate": {
                        "cmd": "y",
                        "metrics": [{"v/report.json": {"cache": False}}],
                        "outs": ["v/report.md"],
                    },
                    "evaluate": {
                        "cmd": "z",
                        "metrics": [{"e/metrics.json": {"cache": False}}, "e/fairness.json"],
                        "plots": [
                            {"p/roc.json": {"x": "fpr", "y": "tpr", "title": "ROC"}},
                            "p/fairness.png",
                        ],
                    },
                }
            },
            sort_keys=False,
        )
    )
    layout = read_layout(tmp_path)

    assert layout.stages == ["ingest", "validate", "evaluate"]
    assert layout.plots == [PlotSpec("p/roc.json", "fpr", "tpr", "ROC")]
    assert (layout.images, layout.data, layout.model_metrics) == (
        ["p/fairness.png"],
        "raw.parquet",
        "e/metrics.json",
    )
    assert (layout.validation_json, layout.validation_md) == ("v/report.json", "v/report.md")


def test_layout_without_dvc_yaml_says_where_to_run(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"dvc.yaml: no such file; run the report from the repo"):
        read_layout(tmp_path)


@pytest.mark.parametrize(
    ("entries", "stale"),
    [
        ([{"changed deps": {"params.yaml": {"validate": "modified"}}}], True),
        (["changed command"], True),
        ([{"changed outs": {"models/model.joblib": "deleted"}}], False),
        (
            [
                {"changed deps": {"data/train.parquet": "deleted"}},
                {"changed outs": {"m": "not in cache"}},
            ],
            False,
        ),
        ([{"changed deps": {"a": "deleted", "b": "modified"}}], True),
    ],
    ids=["params", "command", "missing-output", "missing-input", "missing-and-modified"],
)
def test_a_stage_is_stale_when_more_than_files_are_missing(entries: list, stale: bool) -> None:
    assert _changed(entries) is stale


@pytest.mark.parametrize(
    ("value", "shown"),
    [(1e-05, "`1e-05`"), (0.0, "`0.0`"), (0.5, "`0.5`"), (200, "`200`"), ("lbfgs", "`lbfgs`")],
)
def test_parameters_are_shown_exactly_as_set(value: object, shown: str) -> None:
    assert _param(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.87963, "0.8796"), (2e-05, "2e-05"), (0.0, "0"), (0.00012346, "0.0001235"), (12, "12")],
)
def test_metric_values_keep_their_significant_digits(value: float, shown: str) -> None:
    assert _value(value) == shown


def test_confusion_cells_put_the_actual_class_in_rows_and_the_prediction_in_columns() -> None:
    rows = [{"actual": "1", "predicted": "0"}] * 2 + [{"actual": "0", "predicted": "1"}]

    assert confusion_cells(rows, "actual", "predicted") == (["0", "1"], [[0, 1], [2, 0]])


def test_confusion_matrix_names_its_axes_and_classes() -> None:
    spec = PlotSpec("c.json", x="actual", y="predicted", title="CM", template="confusion")
    rows = [{"actual": "1", "predicted": "0"}, {"actual": "0", "predicted": "0"}]
    ax = figure(spec, [Panel("base", rows), Panel("head", rows)]).axes[0]

    assert (ax.get_ylabel(), ax.get_xlabel()) == ("actual class", "predicted class")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["denied", "approved"]


def test_curves_of_base_and_head_share_one_pair_of_axes() -> None:
    spec = PlotSpec("plots/precision_recall.json", x="recall", y="precision", title="PR")
    base = [{"recall": 0.0, "precision": 1.0}, {"recall": 1.0, "precision": 0.90}]
    head = [{"recall": 0.0, "precision": 1.0}, {"recall": 1.0, "precision": 0.93}]
    fig = figure(spec, [Panel("base abc", base), Panel("head def", head)])

    assert len(fig.axes) == 1
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["base abc", "head def"]
    low, high = fig.axes[0].get_ylim()
    assert 0.85 < low < 0.90 and high > 1.0  # the 0.90 vs 0.93 gap is not squeezed


def test_roc_keeps_the_whole_unit_square() -> None:
    spec = PlotSpec("plots/roc.json", x="fpr", y="tpr", title="ROC")

    assert y_limits(spec, [Panel("head", [{"fpr": 0.5, "tpr": 0.9}])]) == (-0.02, 1.02)
