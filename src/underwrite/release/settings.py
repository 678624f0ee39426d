"""Where local staging and production listen and how long a release step may wait.

These are operating settings, not model parameters, so they live in the environment (the
Makefile's STAGING_PORT, PROD_PORT, ... pass them on) rather than in params.yaml: an
experiment applied with `dvc exp apply` can never move a port.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from underwrite.release import ReleaseError

PREFIX = "UNDERWRITE_"


@dataclass(frozen=True)
class ReleaseSettings:
    """Defaults, each overridden by UNDERWRITE_<NAME> (e.g. UNDERWRITE_STAGING_PORT)."""

    release_host: str = "127.0.0.1"
    staging_port: int = 3100
    prod_port: int = 3200
    readiness_timeout: float = 180.0  # seconds to wait for /readyz
    smoke_suite: str = "tests/smoke"
    smoke_timeout: float = 600.0  # seconds the smoke suite may take
    base_branch: str = "main"  # versions are registered and assigned only from its commits

    @property
    def host(self) -> str:
        return self.release_host

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ReleaseSettings:
        """The defaults, overridden by the environment; a bad value names its variable."""
        values = {}
        for field in fields(cls):
            raw = env.get(f"{PREFIX}{field.name.upper()}")
            if raw is not None:
                values[field.name] = _convert(field.name, raw, type(getattr(cls, field.name)))
        settings = cls(**values)
        if settings.staging_port == settings.prod_port:
            raise ReleaseError(
                f"staging and production would both listen on port {settings.prod_port}: "
                f"set {PREFIX}STAGING_PORT and {PREFIX}PROD_PORT to different ports"
            )
        return settings


def _convert(name: str, raw: str, kind: type) -> str | int | float:
    variable = f"{PREFIX}{name.upper()}"
    if kind is str:
        return raw
    try:
        value = kind(raw)
    except ValueError:
        raise ReleaseError(f"{variable}={raw!r}: must be a number") from None
    if value <= 0 or (name.endswith("_port") and value > 65535):
        raise ReleaseError(f"{variable}={raw!r}: out of range")
    return value
