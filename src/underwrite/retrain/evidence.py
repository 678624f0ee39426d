"""What the retraining report may honestly claim: the new rows, the labels, the comparison.

- **Twins**: a new row whose raw input columns equal an existing row's (the holdout's
  identity, underwrite.judgement.holdout) adds no new application; a twin of a held-out
  row stays held out, so no model trains on what it is judged on.
- **Labels**: each label is an underwriting decision. Where every label equals the model's
  own logged decision, retraining on them is a feedback loop and the report says so.
- **Comparison**: old and new model score the same rows, the new holdout (which the old
  model never trained on either: the hash rule holds the same rows out of every version),
  and one paired bootstrap gives each difference its interval (underwrite.gate).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from underwrite.judgement.holdout import identity_bytes, in_holdout
from underwrite.params import PrepareParams

if TYPE_CHECKING:
    from underwrite.gate import Verdict


@dataclass(frozen=True)
class Twins:
    added: int
    of_existing: int  # new rows equal to a row already in the data
    within_new: int  # new rows equal to an earlier new row
    held_out: int  # new rows on the holdout side (a twin of a held-out row is one of them)


def twins(existing: pd.DataFrame, added: pd.DataFrame, prepare: PrepareParams) -> Twins:
    """How many added rows repeat an application already in the data, or in the batch."""
    known = set(identity_bytes(existing).tolist())
    new = identity_bytes(added).tolist()
    return Twins(
        added=len(new),
        of_existing=sum(row in known for row in new),
        within_new=len(new) - len(set(new)),
        held_out=int(in_holdout(added, prepare.test_size, prepare.seed).sum()),
    )


@dataclass(frozen=True)
class Labels:
    rows: int
    agree_with_model: int  # labels equal to the decision the model logged for the request


def labels_against_decisions(rows: pd.DataFrame, label: str, decision: str) -> Labels:
    """How many labels repeat the model's own logged decision."""
    agree = rows[label].astype(int).to_numpy() == rows[decision].astype(int).to_numpy()
    return Labels(len(rows), int(np.sum(agree)))


def labels_statement(labels: Labels) -> str:
    """What the labels are, and what a loop over them can and cannot show."""
    share = labels.agree_with_model / labels.rows if labels.rows else float("nan")
    text = (
        "Labels are underwriting decisions (in the packaged data: historical decisions by "
        "lenders, not repayment outcomes), so the model learns to predict a decision, and "
        "better scores mean closer agreement with those decisions, not better lending. "
        f"{labels.agree_with_model} of {labels.rows} labels ({share:.0%}) equal the "
        "decision the model itself logged for the request."
    )
    if labels.rows and labels.agree_with_model == labels.rows:
        return text + (
            " **Every label is the model's own decision: this is a feedback loop.** "
            "Retraining on it can only confirm the model's past decisions (and their biases); "
            "it cannot show that a decision was right, and denied applicants' outcomes are "
            "never observed."
        )
    return text + (
        " Should labels ever come from the model's own decisions, the loop would become a "
        "feedback loop that can only confirm them."
    )


def twins_statement(found: Twins) -> str:
    return (
        f"Of {found.added} new rows, {found.of_existing} are exact twins of rows already in "
        f"the data and {found.within_new} repeat an earlier new row (equal raw input "
        f"columns); {found.held_out} fall on the holdout side, where twins of held-out rows "
        "stay, so no version trains on a row it is judged on."
    )


def old_against_new(new_model: Path, old_model: bytes, holdout: Path, params: Path) -> Verdict:
    """The old and the retrained model, paired on the rows of the new holdout."""
    from underwrite import gate, gate_sources
    from underwrite.params import load_params

    settings = load_params(params)
    evidence = gate_sources.evidence(
        pd.read_parquet(holdout),
        gate_sources.load_model(new_model.read_bytes()),
        gate_sources.load_model(old_model),
        settings.evaluate,
    )
    return gate.judge(evidence, settings.gate)
