"""What an operator may change without rebuilding the bento: UNDERWRITE_* variables.

Importing this module reads nothing and starts nothing; `ServingConfig.from_env()` reads the
environment when the service (or a command that needs the same defaults) asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

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
        )


def _whole(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(f"UNDERWRITE_{name}", str(default))
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"UNDERWRITE_{name}={raw!r}: must be a whole number of at least 1")
    return int(raw)
