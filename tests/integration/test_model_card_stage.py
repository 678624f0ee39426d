"""`dvc repro` writes the model card from the evaluation it just ran."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.integration


def test_dvc_repro_writes_a_model_card_with_label_exclusions_and_intervals(reproduced_template):
    root = reproduced_template.path
    card = (root / "reports" / "model_card.md").read_text()
    metrics = json.loads((root / "reports" / "evaluate" / "metrics.json").read_text())
    assert "not repayment" in card
    assert "| `married` | protected |" in card and "| `gdlin` | excluded |" in card
    auc = f"| roc_auc | {metrics['roc_auc']:.3f} [{metrics['roc_auc_ci_low']:.3f}, "
    assert auc in card
