"""Release: registry, bento build, local staging/production, gated promotion, rollback.

- registry.py  versions and stages of the model as GTO git tags, and what each version committed
- bento.py     the model file of a version, imported into the BentoML store, built into a bento
- deploy.py    local staging and production: `bentoml serve` processes tracked under .release/
- smoke.py     the smoke suite (tests/smoke) run against a URL
- gating.py    may the version in staging go to production? (wraps underwrite.gate)
- rollout.py   build, stage, promote, rollback, status, and the whole release
- commands.py  the `underwrite release` commands
"""

from __future__ import annotations


class ReleaseError(Exception):
    """A release step cannot go on; the message says why and what to do. Nothing was changed."""
