"""The gate's verdict in a pull request: the workspace's model against BASE's, by BASE's policy.

Both models score the workspace's holdout (data/processed/test.parquet), restricted to the
rows BASE's holdout rule also held out; BASE's model file comes from DVC (the local cache,
else the remote) at BASE. The policy and the evaluation settings (threshold, bootstrap)
are BASE's params.yaml, never the workspace's.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pandas as pd

from underwrite import gate, gate_sources, paths
from underwrite.gate_sources import PolicyError
from underwrite.params import GateParams
from underwrite.report.sources import Repo

log = logging.getLogger(__name__)


def dvc_file(root: Path, path: str, rev: str) -> bytes:
    """PATH as DVC stored it at REV: the local cache, then the default remote, then every other
    remote (a pull request's runs default to their own cache container, while base's model is
    in production's); when none has it, an error naming what each place said."""
    import dvc.api

    errors: list[str] = []
    for remote in [None, *remote_names(root)]:
        try:
            with dvc.api.open(path, repo=str(root), rev=rev, mode="rb", remote=remote) as handle:
                return handle.read()
        except Exception as err:  # dvc passes on its remotes' errors (network, credentials)
            errors.append(f"{remote or 'cache and default remote'}: {type(err).__name__}: {err}")
    raise FileNotFoundError("; ".join(errors))


def remote_names(root: Path) -> list[str]:
    from dvc.repo import Repo as DvcRepo

    with DvcRepo(str(root)) as project:
        return list(project.config.get("remote", {}))


def base_model(repo: Repo, base: str):
    """BASE's fitted model, or a gate.Verdict saying why it cannot be had."""
    short = repo.short(base)
    try:
        content = dvc_file(repo.root, paths.MODEL.as_posix(), base)
    except Exception as err:  # dvc passes on its remotes' errors (network, credentials) as is
        return gate.cannot_judge(
            f"the model {paths.MODEL} of base {short} is neither in the DVC cache nor on the "
            f"remote ({str(err)[:600]}); fetch it (`git checkout "
            f"{short} && dvc pull`, or `dvc fetch --all-branches`) and run again"
        )
    try:
        return gate_sources.load_model(content)
    except Exception as err:  # unpickling runs any code: e.g. a class an older layout named
        return gate.cannot_judge(
            f"the model {paths.MODEL} of base {short} cannot be loaded by this code "
            f"({type(err).__name__}: {err}); the gate cannot compare with it"
        )


def verdict(repo: Repo, base: str, has_base_model: bool) -> tuple[gate.Verdict, GateParams]:
    """The gate's verdict on the workspace, and the policy it was judged by (BASE's)."""
    try:
        policy, settings, holdout_rule = gate_sources.read_sides(
            _text(repo.show(base, paths.PARAMS.as_posix())), f"base {repo.short(base)}"
        )
        head_policy = gate_sources.read_sides(
            _text(repo.read(paths.PARAMS.as_posix())), "the workspace"
        )[0]
    except PolicyError as err:
        return gate.cannot_judge(f"the gate policy cannot be read: {err}"), GateParams()
    changes = gate_sources.policy_changes(policy, head_policy)
    head_model, test = repo.read(paths.MODEL.as_posix()), repo.read(paths.TEST_DATA.as_posix())
    if head_model is None or test is None:
        missing = paths.MODEL if head_model is None else paths.TEST_DATA
        return gate.cannot_judge(f"{missing} is missing: run `dvc repro`", changes), policy
    production = base_model(repo, base) if has_base_model else None
    if isinstance(production, gate.Verdict):
        return gate.cannot_judge(production.reasons[0], changes), policy
    holdout = gate_sources.shared_holdout(pd.read_parquet(io.BytesIO(test)), holdout_rule)
    log.info("judging head against %s on %d holdout rows", repo.short(base), len(holdout))
    evidence = gate_sources.evidence(
        holdout, gate_sources.load_model(head_model), production, settings
    )
    return gate.judge(evidence, policy, changes), policy


def _text(content: bytes | None) -> str | None:
    return None if content is None else content.decode()
