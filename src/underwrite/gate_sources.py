"""Where the gate's policy and evidence come from: always the production side for the policy.

The policy is ``gate:`` of params.yaml at the production side's commit (a pull request's
base, the version in production), so a candidate cannot loosen the gate that judges it:
``policy_changes`` lists each key the candidate's params.yaml changes, and the gate ignores
them. The evidence is both models' scores on the same holdout rows (``evidence``).
"""

from __future__ import annotations

import io
import json
from typing import Any

import joblib
import numpy as np
import pandas as pd
import yaml
from pydantic import ValidationError

from underwrite.gate import Evidence
from underwrite.judgement.holdout import in_holdout
from underwrite.params import EvaluateParams, FairnessLimit, GateParams, PrepareParams
from underwrite.schema import LABEL, protected_groups

ABSENT = "(absent)"


class PolicyError(ValueError):
    """The production side's policy cannot be read."""


def _section(raw: dict, name: str, model: type, where: str) -> Any:
    try:
        return model.model_validate_json(json.dumps(raw.get(name) or {}), strict=True)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in (name, *e['loc']))}: {e['msg']}" for e in err.errors()
        )
        raise PolicyError(f"params.yaml of {where}: {problems}") from err


def read_sides(text: str | None, where: str) -> tuple[GateParams, EvaluateParams, PrepareParams]:
    """The gate policy, evaluation settings and holdout rule in params.yaml TEXT (of WHERE).

    A policy of the older form (``tolerances``: point-estimate tolerances) is read as
    margins of the same size, so the first change to the new form is judged by the old.
    """
    if text is None:
        raise PolicyError(f"{where} has no params.yaml, so it declares no gate policy")
    raw = yaml.safe_load(text) or {}
    gate = dict(raw.get("gate") or {})
    if "tolerances" in gate:
        gate = _from_tolerances(gate)
    return (
        _section({"gate": gate}, "gate", GateParams, where),
        _section(raw, "evaluate", EvaluateParams, where),
        _section(raw, "prepare", PrepareParams, where),
    )


def _from_tolerances(gate: dict) -> dict:
    """The older policy (tolerances, fairness gaps) in today's form, same numbers."""
    margins = {k: v for k, v in gate.pop("tolerances").items() if k in GateParams().margins}
    fairness = {k: dict(FairnessLimit(**v)) for k, v in (gate.pop("fairness", None) or {}).items()}
    return {**gate, "margins": margins, "fairness": fairness}


def policy_changes(production: GateParams, candidate: GateParams) -> list[str]:
    """One line per key where the candidate's policy differs from production's."""
    old, new = _flat(production.model_dump()), _flat(candidate.model_dump())
    return [
        f"gate policy changed: gate.{key} {old.get(key, ABSENT)} -> {new.get(key, ABSENT)} "
        "(ignored)"
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key)
    ]


def _flat(node: dict, prefix: str = "") -> dict[str, Any]:
    result = {}
    for key, value in node.items():
        if isinstance(value, dict) and value:
            result |= _flat(value, f"{prefix}{key}.")
        else:
            result[f"{prefix}{key}"] = value
    return result


def load_model(content: bytes) -> Any:
    """A model file's fitted pipeline (the classes it names must be importable)."""
    return joblib.load(io.BytesIO(content))


def shared_holdout(test: pd.DataFrame, production: PrepareParams) -> pd.DataFrame:
    """The rows of the candidate's holdout that production's holdout rule also held out,
    so neither model trained on any of them (the same rule on both sides keeps them all)."""
    return test[in_holdout(test.drop(columns=[LABEL]), production.test_size, production.seed)]


def evidence(
    test: pd.DataFrame,
    candidate: Any,
    production: Any | None,
    settings: EvaluateParams,
) -> Evidence:
    """Both fitted models' scores on the holdout TEST (with its label column)."""
    features = test.drop(columns=[LABEL])
    scores = [
        m.predict_proba(features)[:, 1] if m is not None else None for m in (candidate, production)
    ]
    return Evidence(
        label=test[LABEL].astype(int).to_numpy(),
        groups=protected_groups(test),
        candidate=np.asarray(scores[0]),
        production=None if scores[1] is None else np.asarray(scores[1]),
        threshold=settings.threshold,
        bootstrap=settings.bootstrap,
        reference_groups=dict(settings.reference_groups),
    )
