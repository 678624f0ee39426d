"""What an operator may change without rebuilding the bento: UNDERWRITE_* variables.

Importing this module reads nothing and starts nothing; `ServingConfig.from_env()` reads the
environment when the service (or a command that needs the same defaults) asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from underwrite.paths import INFERENCE_LOG, MODEL_ARTIFACT

# The math libraries' thread-pool variables: one thread per worker process.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


@dataclass(frozen=True)
class ServingConfig:
    """What an operator may change without rebuilding, from UNDERWRITE_* variables."""

    model_tag: str = f"{MODEL_ARTIFACT}:latest"
    workers: int | str = "cpu_count"
    max_batch: int = 500  # applications in one /predict_batch request
    max_body_bytes: int = 1 << 20
    max_model_batch: int = 1000  # rows in one call of the Pipeline (adaptive batching)
    max_latency_ms: int = 10_000  # a request waiting longer for its batch gets a 503
    inference_log: str = INFERENCE_LOG
    header_timeout_seconds: int = 10  # a connection must send its request headers in this time
    log_buffer_records: int = 50_000  # inference-log records held in memory while storage is down
    # local folder the writer sheds to (empty: <log folder>-spill, or INFERENCE_LOG_SPILL)
    log_spill: str = ""
    auth: AuthConfig = field(default_factory=lambda: AuthConfig())

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ServingConfig:
        """The defaults above, overridden by UNDERWRITE_* variables; a bad value is named."""
        workers = env.get("UNDERWRITE_WORKERS", cls.workers)
        return cls(
            model_tag=env.get("UNDERWRITE_MODEL_TAG", cls.model_tag),
            workers=workers if workers == "cpu_count" else _whole(env, "WORKERS", 0),
            max_batch=_whole(env, "MAX_BATCH", cls.max_batch),
            max_body_bytes=_whole(env, "MAX_BODY_BYTES", cls.max_body_bytes),
            max_model_batch=_whole(env, "MAX_MODEL_BATCH", cls.max_model_batch),
            max_latency_ms=_whole(env, "MAX_LATENCY_MS", cls.max_latency_ms),
            inference_log=env.get("UNDERWRITE_INFERENCE_LOG", cls.inference_log),
            header_timeout_seconds=_whole(env, "HEADER_TIMEOUT_SECONDS", 10),
            log_buffer_records=_whole(env, "LOG_BUFFER_RECORDS", 50_000),
            log_spill=env.get("UNDERWRITE_LOG_SPILL", ""),
            auth=AuthConfig.from_env(env),
        )


ENTRA_ISSUER = "https://login.microsoftonline.com/{tenant}/v2.0"
ENTRA_KEYS = "https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys"
LOCAL = "local"


@dataclass(frozen=True)
class AuthConfig:
    """Who may call the service: Entra ID bearer tokens and/or API keys from a mounted file.

    Authentication is on as soon as either is configured. Outside ``UNDERWRITE_ENVIRONMENT=
    local`` (the default, except in a Kubernetes pod) it must be configured: the service
    refuses to start otherwise, unless ``UNDERWRITE_AUTH=off`` says so on purpose.
    """

    environment: str = LOCAL
    switched_off: bool = False
    issuer: str = ""
    audience: str = ""
    jwks_url: str = ""
    role: str = "Underwrite.Predict"
    api_keys_file: str = ""
    metrics_in_cluster: bool = False
    rate_per_second: float = 100.0  # per caller and worker process
    rate_burst: int = 200

    @property
    def tokens(self) -> bool:
        return bool(self.issuer and self.audience and self.jwks_url)

    @property
    def enabled(self) -> bool:
        return not self.switched_off and (self.tokens or bool(self.api_keys_file))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> AuthConfig:
        tenant = env.get("UNDERWRITE_AUTH_TENANT_ID", "")
        config = cls(
            environment=env.get("UNDERWRITE_ENVIRONMENT", _default_environment(env)),
            switched_off=_flag(env, "AUTH", on="on", off="off", default="on") == "off",
            issuer=env.get("UNDERWRITE_AUTH_ISSUER", ENTRA_ISSUER.format(tenant=tenant))
            if tenant or "UNDERWRITE_AUTH_ISSUER" in env
            else "",
            audience=env.get("UNDERWRITE_AUTH_AUDIENCE", ""),
            jwks_url=env.get("UNDERWRITE_AUTH_JWKS_URL", ENTRA_KEYS.format(tenant=tenant))
            if tenant or "UNDERWRITE_AUTH_JWKS_URL" in env
            else "",
            role=env.get("UNDERWRITE_AUTH_ROLE", cls.role),
            api_keys_file=env.get("UNDERWRITE_API_KEYS_FILE", ""),
            metrics_in_cluster=_flag(env, "METRICS_IN_CLUSTER", on="1", off="0", default="0")
            == "1",
            rate_per_second=float(_whole(env, "RATE_LIMIT_PER_SECOND", int(cls.rate_per_second))),
            rate_burst=_whole(env, "RATE_LIMIT_BURST", cls.rate_burst),
        )
        config.check()
        return config

    def check(self) -> None:
        """Refuse a half-configured or missing authentication outside local use."""
        partial = bool(self.issuer or self.audience or self.jwks_url) and not self.tokens
        if partial:
            raise ValueError(
                "bearer tokens need UNDERWRITE_AUTH_AUDIENCE and either "
                "UNDERWRITE_AUTH_TENANT_ID or both UNDERWRITE_AUTH_ISSUER and "
                "UNDERWRITE_AUTH_JWKS_URL"
            )
        if self.environment != LOCAL and not self.enabled and not self.switched_off:
            raise ValueError(
                f"UNDERWRITE_ENVIRONMENT={self.environment}: authentication is required "
                "outside local use; set UNDERWRITE_AUTH_TENANT_ID and UNDERWRITE_AUTH_AUDIENCE "
                "(Entra ID tokens) or UNDERWRITE_API_KEYS_FILE (a mounted secret), or "
                "UNDERWRITE_AUTH=off for a private test deployment"
            )


def _default_environment(env: Mapping[str, str]) -> str:
    """``kubernetes`` inside a pod (the kubelet sets KUBERNETES_SERVICE_HOST), else ``local``:
    authentication is then required without the manifests having to ask for it."""
    return "kubernetes" if "KUBERNETES_SERVICE_HOST" in env else LOCAL


def _flag(env: Mapping[str, str], name: str, *, on: str, off: str, default: str) -> str:
    raw = env.get(f"UNDERWRITE_{name}", default).strip().lower()
    if raw not in (on, off):
        raise ValueError(f"UNDERWRITE_{name}={raw!r}: must be {on!r} or {off!r}")
    return raw


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(f"UNDERWRITE_{name}", str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"UNDERWRITE_{name}={raw!r}: must be a whole number of at least 1")
    return int(raw)
