"""The watch list: its files, the before/after table, the expectations the gate enforces, the
unknown-income case the demo's fault gets wrong, and the demo's text edits of schema.py that
make the faulty revision and the fix."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from underwrite import watchlist
from underwrite.demo import DemoError
from underwrite.demo.scratch import (
    SENTINEL_TEST,
    appinc_call,
    count_appinc_in_sentinel_test,
    edit_schema,
    with_unknown_income,
    without_unknown_income,
)
from underwrite.release.gating import Decision
from underwrite.release.registry import ModelVersion
from underwrite.schema import LABEL
from underwrite.watchlist import fault
from underwrite.watchlist.generate import held_out_cases

REPO_ROOT = Path(__file__).resolve().parents[2]


def application(appinc: float) -> dict:
    return {name: 1 for name in watchlist.request_fields()} | {"appinc": appinc}


def case(name: str, appinc: float, expect: str | None = None) -> watchlist.Case:
    return watchlist.Case(name, "why", application(appinc), expect)


def income_model(direction: int) -> Pipeline:
    """A real fitted model whose approval rises (+1) or falls (-1) with applicant income."""
    frame = watchlist.to_frame([case(str(i), float(i)) for i in range(0, 200, 10)])
    label = (frame["appinc"] >= 100).astype(int) if direction > 0 else frame["appinc"] < 100
    select = ColumnTransformer([("income", "passthrough", ["appinc"])])
    return Pipeline([("select", select), ("fit", LogisticRegression())]).fit(frame, label)


def write_case(folder: Path, body: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{body.get('name', 'case')}.json"
    path.write_text(json.dumps(body))
    return path


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"name": "a", "application": {}}, "keys name, why, application"),
        ({"name": "a", "why": "w", "application": {}, "expect": "yes"}, "expect is 'yes'"),
        ({"name": "a", "why": "w", "application": {}, "owner": "x"}, r"unknown key\(s\)"),
        ({"name": "a", "why": "w", "application": {"appinc": 1}}, "the application lacks"),
    ],
)
def test_parse_case_bad_file_names_the_problem(tmp_path: Path, body: dict, match: str):
    path = write_case(tmp_path, body)
    with pytest.raises(watchlist.WatchlistError, match=match) as raised:
        watchlist.load(tmp_path)
    assert str(path) in str(raised.value)


def test_committed_watchlist_has_the_unknown_income_case_expected_denied():
    cases = {c.name: c for c in watchlist.load(REPO_ROOT / watchlist.WATCHLIST)}
    unknown = cases["income-666-unknown"]
    assert unknown.application["appinc"] == watchlist.UNKNOWN_INCOME
    assert unknown.expect == "denied"
    assert {"clear-approval", "borderline-denial", "applicant-black"} <= cases.keys()


def test_compare_marks_the_cases_whose_decision_changes():
    cases = [case("rich", 190), case("poor", 0)]
    rows = watchlist.compare(cases, income_model(+1), income_model(-1), threshold=0.5)
    assert [row.changed for row in rows] == [True, True]
    table = "\n".join(watchlist.table(rows, "before", "after"))
    assert "| rich | - | approved" in table and "| denied" in table and "**yes**" in table


def test_compare_without_a_model_shows_not_available():
    rows = watchlist.compare([case("rich", 190)], None, income_model(+1), threshold=0.5)
    assert watchlist.table(rows, "base", "head")[-1].startswith("| rich | - | n/a | approved")


def test_unmet_lists_only_cases_that_miss_their_expected_decision():
    cases = [case("rich", 190, "approved"), case("poor", 0, "approved"), case("free", 0)]
    rows = watchlist.compare(cases, None, income_model(+1), threshold=0.5)
    reasons = watchlist.unmet(rows)
    assert len(reasons) == 1
    assert "poor is denied" in reasons[0] and "expects approved" in reasons[0]


def test_unmet_spares_a_case_production_misses_too_and_notes_it():
    cases = [case("poor", 0, "approved"), case("rich", 190, "denied")]
    rows = watchlist.compare(cases, income_model(+1), income_model(+1), threshold=0.5)
    assert watchlist.unmet(rows) == []
    assert [n.split(":")[0] for n in watchlist.still_missed(rows)] == ["poor", "rich"]


def test_unmet_refuses_a_candidate_that_loses_an_expected_decision():
    rows = watchlist.compare(
        [case("rich", 190, "approved")], income_model(+1), income_model(-1), 0.5
    )
    assert watchlist.unmet(rows) == [
        "watch list: rich is denied "
        f"({rows[0].after:.3f}); production's watch list expects approved"
    ]


def test_gate_decision_with_an_unmet_case_is_refused_and_shows_the_table():
    rows = watchlist.compare([case("poor", 0, "approved")], None, income_model(+1), 0.5)
    watch = watchlist.Comparison(rows, "production v1", "candidate v2", notes=[])
    decision = Decision(
        ModelVersion("v2", "b" * 40),
        ModelVersion("v1", "a" * 40),
        watchlist.unmet(rows),
        watch=watch,
    )
    assert not decision.allowed
    summary = decision.summary()
    assert "refused" in summary and "| poor | approved | n/a | denied" in summary


def git(repo: Path, *args: str) -> str:
    identity = ["-c", "user.name=t", "-c", "user.email=t@t.invalid", "-c", "commit.gpgsign=false"]
    done = subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, text=True,
                          timeout=60, check=True)  # fmt: skip
    return done.stdout.strip()


def test_load_at_reads_the_list_as_committed_not_the_workspace(tmp_path: Path):
    git(tmp_path, "init", "-q")
    folder = tmp_path / watchlist.WATCHLIST
    body = {"name": "held", "why": "w", "application": application(5), "expect": "denied"}
    write_case(folder, body)
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-q", "-m", "list")
    write_case(folder, body | {"expect": "approved"})  # a candidate relaxing the policy
    committed = watchlist.load_at(tmp_path, "HEAD")
    assert [(c.name, c.expect) for c in committed] == [("held", "denied")]
    assert watchlist.load_at(tmp_path, "HEAD", Path("no/such/folder")) == []


def test_held_out_cases_are_a_clear_approval_a_borderline_denial_and_each_group(frame_factory):
    cases = {c.name: c for c in held_out_cases(frame_factory(), income_model(+1), 0.5)}
    assert cases.keys() == {
        "clear-approval", "borderline-denial", "applicant-white", "applicant-black",
        "applicant-hispanic",
    }  # fmt: skip
    rows = {r.case.name: r for r in watchlist.compare(list(cases.values()), None,
                                                      income_model(+1), 0.5)}  # fmt: skip
    assert rows["clear-approval"].decision(rows["clear-approval"].after) == "approved"
    assert rows["borderline-denial"].decision(rows["borderline-denial"].after) == "denied"
    assert cases["clear-approval"].expect == "approved"


def with_unknown_incomes(frame, rows: list[int], label: float = 0.0):
    """FRAME with income 666 and the bank's decision LABEL at ROWS."""
    frame = frame.copy()
    frame.loc[rows, "appinc"] = float(watchlist.UNKNOWN_INCOME)
    frame.loc[rows, LABEL] = label
    return frame


def test_unknown_income_case_is_a_denied_666_application_faulty_approves_fixed_denies(
    frame_factory,
):
    frame = with_unknown_incomes(frame_factory(), [3, 7])
    models = fault.Models(faulty=income_model(+1), fixed=income_model(-1))
    case = fault.unknown_income_case({"training": frame}, models, threshold=0.5)
    assert case.name == "income-666-unknown" and case.expect == "denied"
    assert case.application["appinc"] == watchlist.UNKNOWN_INCOME
    assert case.application["atotinc"] in {frame.loc[3, "atotinc"], frame.loc[7, "atotinc"]}
    scores = fault.score(case, models, 0.5)
    assert scores.faulty > 0.9 and scores.fixed < 0.1
    assert "training split" in case.why and f"p={scores.faulty:.3f}" in case.why
    assert fault.problems(case, scores) == []


def test_unknown_income_case_ignores_applications_the_bank_approved(frame_factory):
    frame = with_unknown_incomes(frame_factory(), [3], label=1.0)
    models = fault.Models(faulty=income_model(+1), fixed=income_model(-1))
    with pytest.raises(watchlist.WatchlistError, match="no denied application with appinc 666"):
        fault.unknown_income_case({"training": frame}, models, threshold=0.5)


def test_unknown_income_case_that_both_models_approve_is_refused_naming_the_closest(
    frame_factory,
):
    frame = with_unknown_incomes(frame_factory(), [3])
    models = fault.Models(faulty=income_model(+1), fixed=income_model(+1))
    with pytest.raises(
        watchlist.WatchlistError, match=r"the closest: faulty p=1\.000, fixed p=1\.000"
    ):
        fault.unknown_income_case({"training": frame}, models, threshold=0.5)


@pytest.mark.parametrize(
    ("scores", "expect", "appinc", "found"),
    [
        ((0.7, 0.3), "denied", 666, []),
        ((0.55, 0.3), "denied", 666, ["the faulty model gives p=0.550, not 0.60 or more"]),
        ((0.7, 0.45), "denied", 666, ["the fixed model gives p=0.450, not 0.40 or less"]),
        ((0.7, 0.3), None, 666, ["it expects nothing, not denied"]),
        ((0.7, 0.3), "denied", 60, ["its appinc is 60, not 666"]),
    ],
)
def test_problems_name_each_way_the_case_misses_the_fault(scores, expect, appinc, found):
    unknown = case("income-666-unknown", appinc, expect)
    assert fault.problems(unknown, fault.Scores(*scores, threshold=0.5), margin=0.1) == found


def test_train_models_of_a_project_without_the_666_code_says_so(tmp_path: Path):
    schema = tmp_path / "src/underwrite/schema.py"
    schema.parent.mkdir(parents=True)
    schema.write_text((REPO_ROOT / "src/underwrite/schema.py").read_text())
    edit_schema(tmp_path, without_unknown_income)
    with pytest.raises(watchlist.WatchlistError, match="add 666 to the sentinels="):
        fault.train_models(tmp_path, tmp_path / "train.parquet", tmp_path / "params.yaml")


SCHEMA_LINE = (
    'X = (Column("appinc", F, NUM, "applicant income", "k$", 0, 10_000,\n'
    "           monotone=1),\n"
    '     Column("other", F, NUM, "x"))\n'
)


def test_fix_declares_666_and_the_faulty_patch_removes_it_again():
    start, end = appinc_call(SCHEMA_LINE)
    call = SCHEMA_LINE[start:end]
    fixed = with_unknown_income(call)
    assert fixed.endswith("           sentinels=(666,), monotone=1)")  # no line grows
    assert without_unknown_income(fixed) == call
    assert with_unknown_income(fixed) == fixed


def test_faulty_patch_keeps_other_sentinels():
    call = 'Column("appinc", F, sentinels=(999, 666), monotone=1)'
    assert without_unknown_income(call) == 'Column("appinc", F, sentinels=(999,), monotone=1)'
    assert with_unknown_income('Column("appinc", F, sentinels=(999,))').endswith("(999, 666))")


def test_edit_schema_without_the_appinc_column_names_the_fix(tmp_path: Path):
    schema = tmp_path / "src/underwrite/schema.py"
    schema.parent.mkdir(parents=True)
    schema.write_text('Column("income", F)\n')
    with pytest.raises(DemoError, match="APPINC_CALL"):
        edit_schema(tmp_path, with_unknown_income)


def test_edit_schema_of_the_project_round_trips(tmp_path: Path):
    schema = tmp_path / "src/underwrite/schema.py"
    schema.parent.mkdir(parents=True)
    original = (REPO_ROOT / "src/underwrite/schema.py").read_text()
    schema.write_text(original)
    edit_schema(tmp_path, without_unknown_income)
    assert edit_schema(tmp_path, with_unknown_income)
    assert "sentinels=(666,)" in schema.read_text()


def test_fix_counts_appinc_in_the_sentinel_test_once(tmp_path: Path):
    test = tmp_path / SENTINEL_TEST
    test.parent.mkdir(parents=True)
    test.write_text('    assert result.sentinels == {"gdlin": 1, "term": 2}\n')
    assert count_appinc_in_sentinel_test(tmp_path)
    assert not count_appinc_in_sentinel_test(tmp_path)
    assert (
        test.read_text() == '    assert result.sentinels == {"appinc": 0, "gdlin": 1, "term": 2}\n'
    )
