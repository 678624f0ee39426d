"""Data validation derived from the schema: pandera checks plus a label-leakage screen."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from underwrite.schema import COLUMNS, LABEL, Column, feature_columns

EXAMPLES = 5


@dataclass(frozen=True)
class Failure:
    """One broken rule: which column, which rule, how many rows, and a few of them."""

    column: str
    rule: str
    rows: int
    examples: list[dict] = field(default_factory=list)

    def message(self) -> str:
        where = f"column '{self.column}'" if self.column != "*" else "the data"
        if not self.examples:
            return f"{where} {self.rule}"
        shown = ", ".join(f"row {e['row']}: {e['value']}" for e in self.examples)
        return f"{where}: {self.rule}: {self.rows} rows (e.g. {shown})"


@dataclass(frozen=True)
class ValidationResult:
    rows: int
    failures: list[Failure]
    sentinels: dict[str, int]
    missing: dict[str, int]
    single_feature_auc: dict[str, float]

    @property
    def passed(self) -> bool:
        return not self.failures

    def as_dict(self) -> dict:
        return {"passed": self.passed, **asdict(self)}


def _range_rule(column: Column) -> str:
    return f"must be between {column.minimum:g} and {column.maximum:g} ({column.unit or 'value'})"


def _value_checks(column: Column) -> list[pa.Check]:
    ignore = list(column.sentinels)
    checks = []
    if column.minimum is not None:
        checks.append(
            pa.Check(
                lambda s, c=column: s.isin(ignore) | s.between(c.minimum, c.maximum),
                element_wise=False,
                error=_range_rule(column),
                ignore_na=True,
            )
        )
    if column.allowed_values:
        allowed = [*column.allowed_values, *ignore]
        checks.append(
            pa.Check.isin(allowed, error=f"must be one of {', '.join(map(str, allowed))}")
        )
    return checks


def pandera_schema() -> pa.DataFrameSchema:
    """Types, ranges, categories and missing-value rules of every column in COLUMNS."""
    return pa.DataFrameSchema(
        {
            c.name: pa.Column(float, _value_checks(c), nullable=c.nullable, coerce=True)
            for c in COLUMNS
        },
        strict=False,
    )


def _failures_from(errors: SchemaErrors) -> list[Failure]:
    cases = errors.failure_cases.copy()
    missing_column = cases["check"] == "column_in_dataframe"
    cases.loc[missing_column, "column"] = cases.loc[missing_column, "failure_case"]
    cases.loc[missing_column, "index"] = None
    # a column that is not numeric fails every later check too: report only its type
    wrong_type = set(cases.loc[cases["check"].str.startswith("coerce_dtype"), "column"])
    cases = cases[~cases["column"].isin(wrong_type) | cases["check"].str.startswith("coerce_dtype")]
    failures = []
    for (column, check), group in cases.groupby(["column", "check"], sort=True):
        examples = [
            {"row": int(r), "value": str(v)}
            for r, v in zip(group["index"], group["failure_case"], strict=True)
            if not pd.isna(r)
        ][:EXAMPLES]
        failures.append(Failure(str(column), _rule_name(str(check)), len(group), examples))
    return failures


def _rule_name(check: str) -> str:
    plain = {
        "column_in_dataframe": "is missing",
        "not_nullable": "has missing values but the schema allows none",
    }
    if check.startswith("coerce_dtype"):
        return "wrong type: must be numeric"
    return plain.get(check, check)


def folded_auc(values: np.ndarray, positive: np.ndarray) -> float | None:
    """ROC AUC of ``values`` as a score for ``positive``, folded to >= 0.5; None if undefined.

    The same number as sklearn's roc_auc_score (ties count half: the Mann-Whitney U),
    computed from label counts per distinct value, so a million rows cost one hash of the
    values instead of a sort and sklearn's checks of every row.
    """
    codes, distinct = pd.factorize(values, sort=True)
    total = np.bincount(codes, minlength=len(distinct))
    pos = np.bincount(codes, weights=positive, minlength=len(distinct))
    neg = total - pos
    n_pos, n_neg = pos.sum(), neg.sum()
    if len(distinct) < 2 or n_pos == 0 or n_neg == 0:
        return None
    negatives_below = np.cumsum(neg) - neg
    auc = float(np.dot(pos, negatives_below + 0.5 * neg) / (n_pos * n_neg))
    return max(auc, 1 - auc)


def single_feature_auc(frame: pd.DataFrame) -> dict[str, float]:
    """How well each column a model may use (a study's too) alone separates the label (ROC AUC
    folded to >= 0.5)."""
    label = frame[LABEL]
    scores = {}
    for column in feature_columns(include_protected=True):
        values = pd.to_numeric(frame[column.name], errors="coerce")
        known = (values.notna() & label.notna()).to_numpy()
        auc = folded_auc(values.to_numpy()[known], label.to_numpy()[known] == 1)
        if auc is not None:
            scores[column.name] = round(auc, 6)
    return scores


def _leakage_failures(auc: dict[str, float], limit: float) -> list[Failure]:
    return [
        Failure(name, f"predicts '{LABEL}' alone (ROC AUC {score:.3f} > {limit}): label leakage", 0)
        for name, score in auc.items()
        if score > limit
    ]


def validate_frame(frame: pd.DataFrame, min_rows: int, max_auc: float) -> ValidationResult:
    """Check a raw applications frame against the schema; never raises on bad data."""
    failures: list[Failure] = []
    if len(frame) < min_rows:
        failures.append(Failure("*", f"has {len(frame)} rows; at least {min_rows} are needed", 0))
    try:
        pandera_schema().validate(frame, lazy=True)
    except SchemaErrors as errors:
        failures.extend(_failures_from(errors))
    present = [c for c in COLUMNS if c.name in frame.columns]
    sentinels = {c.name: int(frame[c.name].isin(c.sentinels).sum()) for c in present if c.sentinels}
    missing = {c.name: int(n) for c in present if (n := frame[c.name].isna().sum())}
    auc = single_feature_auc(frame) if not failures else {}
    failures.extend(_leakage_failures(auc, max_auc))
    return ValidationResult(len(frame), failures, sentinels, missing, auc)
