"""The model card states the label, the exclusions with reasons, and intervals."""

from __future__ import annotations

from underwrite.model_card import Lineage, render
from underwrite.schema import COLUMNS, Role

METRICS = {
    "roc_auc": 0.85, "roc_auc_ci_low": 0.8, "roc_auc_ci_high": 0.9,
    "interval_method": "percentile bootstrap",
    "fairness": {"race": {"adverse_impact_ratio": 0.84, "adverse_impact_ratio_ci_low": 0.72,
                          "adverse_impact_ratio_ci_high": 0.92}},
}  # fmt: skip
PROXIES = {"targets": {"non_white": {"all_features": 0.7}}}


def test_model_card_states_label_exclusions_and_intervals() -> None:
    card = render(METRICS, PROXIES, Lineage("m" * 32, "d" * 32, {"train": {"estimator": "x"}}))
    assert "historical decision" in card and "not repayment" in card
    for column in COLUMNS:
        if column.role in (Role.PROTECTED, Role.EXCLUDED):
            assert f"| `{column.name}` | {column.role.value} | {column.why} |" in card
    assert "| roc_auc | 0.850 [0.800, 0.900] |" in card
    assert "| race | adverse_impact_ratio | 0.840 [0.720, 0.920] |" in card
    assert "| non_white | 0.700 |" in card
    assert f"model md5: `{'m' * 32}`" in card


def test_stored_model_carries_the_card_with_its_commit(tmp_path) -> None:
    from underwrite.serving.store import model_card

    card = render(METRICS, PROXIES, Lineage("m" * 32, "d" * 32, {}))
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "model_card.md").write_text(card)
    assert "git commit: `abc1234`" in model_card(tmp_path, "abc1234")
    assert model_card(tmp_path / "elsewhere", "abc1234") == ""
