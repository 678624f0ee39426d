"""Who may call the service: Entra ID bearer tokens, API keys, and a rate limit per caller.

``Authentication`` is an ASGI middleware, installed only when ``AuthConfig.enabled``
(locally nothing changes). A request carries either ``Authorization: Bearer <JWT>`` (an
Entra ID access token: RS256 signature checked against the tenant's published keys,
issuer, audience, expiry, and the app role ``UNDERWRITE_AUTH_ROLE`` in its ``roles``
claim) or ``X-API-Key: <key>`` (one of the keys in ``UNDERWRITE_API_KEYS_FILE``, a mounted
secret). The probes ``/readyz``, ``/livez`` and ``/healthz`` stay open; ``/metrics`` is open
only when ``UNDERWRITE_METRICS_IN_CLUSTER=1`` says the scrape comes from inside the cluster
(a NetworkPolicy then keeps everyone else out). Each caller has a token bucket: beyond its
rate the answer is 429 with ``Retry-After``.

Clients (the smoke suite, ``underwrite simulate --url``) send ``client_headers()``: the
credentials in ``UNDERWRITE_API_TOKEN`` or ``UNDERWRITE_API_KEY``, when set.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.responses import JSONResponse

from underwrite.serving.config import AuthConfig
from underwrite.serving.middleware import ASGIApp, Receive, Scope, Send, header

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/readyz", "/livez", "/healthz"})
METRICS_PATH = "/metrics"
API_KEY_HEADER = "X-API-Key"
TOKEN_VARIABLE = "UNDERWRITE_API_TOKEN"
KEY_VARIABLE = "UNDERWRITE_API_KEY"
ALGORITHMS = ["RS256"]  # Entra ID signs access tokens with RS256


@dataclass(frozen=True)
class Denied(Exception):
    status: int  # 401: no valid credentials; 403: valid, but not allowed
    reason: str


def client_headers(env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The credentials a client sends, from UNDERWRITE_API_TOKEN or UNDERWRITE_API_KEY."""
    if env.get(TOKEN_VARIABLE):
        return {"Authorization": f"Bearer {env[TOKEN_VARIABLE]}"}
    if env.get(KEY_VARIABLE):
        return {API_KEY_HEADER: env[KEY_VARIABLE]}
    return {}


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def read_api_keys(path: Path) -> dict[str, str]:
    """``<name> <key>`` per line (``#`` comments, blank lines skipped): key digest -> name."""
    keys: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) != 2:
            raise ValueError(f"{path} line {number}: write '<caller name> <key>'")
        keys[_digest(parts[1])] = parts[0]
    if not keys:
        raise ValueError(f"{path}: no keys; write one '<caller name> <key>' per line")
    return keys


class Authenticator:
    """The caller's identity from a request's headers, or ``Denied``."""

    def __init__(self, config: AuthConfig):
        self.config = config
        self.keys = read_api_keys(Path(config.api_keys_file)) if config.api_keys_file else {}
        self.jwks = None
        if config.tokens:
            from jwt import PyJWKClient

            self.jwks = PyJWKClient(config.jwks_url, cache_keys=True, lifespan=3600)

    async def identify(self, scope: Scope) -> str:
        authorization = header(scope, b"authorization") or ""
        key = header(scope, API_KEY_HEADER.lower().encode())
        if authorization.lower().startswith("bearer ") and self.jwks is not None:
            return await self._token_identity(authorization[7:].strip())
        if key is not None and self.keys:
            name = self.keys.get(_digest(key))
            if name is None:
                raise Denied(401, f"the {API_KEY_HEADER} header holds no valid key")
            return f"key:{name}"
        raise Denied(401, self._what_to_send())

    def _what_to_send(self) -> str:
        ways = []
        if self.jwks is not None:
            ways.append("'Authorization: Bearer <Entra ID access token>'")
        if self.keys:
            ways.append(f"'{API_KEY_HEADER}: <key>'")
        return "credentials required: send " + " or ".join(ways)

    async def _token_identity(self, token: str) -> str:
        import jwt

        try:
            signing = await asyncio.to_thread(self.jwks.get_signing_key_from_jwt, token)
            claims = jwt.decode(
                token,
                signing.key,
                algorithms=ALGORITHMS,
                audience=self.config.audience,
                issuer=self.config.issuer,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as err:
            log.error("cannot fetch the token signing keys from %s: %s", self.config.jwks_url, err)
            raise Denied(503, "the identity provider's signing keys are unreachable") from None
        except jwt.PyJWTError as err:
            raise Denied(401, f"invalid bearer token: {err}") from None
        if self.config.role not in (claims.get("roles") or []):
            raise Denied(403, f"the token lacks the app role {self.config.role!r}")
        caller = claims.get("oid") or claims.get("azp") or claims.get("sub") or "unknown"
        return f"token:{caller}"


class TokenBuckets:
    """A token bucket per caller: ``rate`` requests a second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self.buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last refill)

    def wait_seconds(self, caller: str, now: float | None = None) -> float:
        """0 and one token taken, or how long until the caller has a token again."""
        now = time.monotonic() if now is None else now
        tokens, last = self.buckets.get(caller, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1:
            self.buckets[caller] = (tokens - 1, now)
            return 0.0
        self.buckets[caller] = (tokens, now)
        return (1 - tokens) / self.rate


class Authentication:
    """ASGI: open probes, credentials for everything else, a rate limit per caller."""

    def __init__(self, app: ASGIApp, config: AuthConfig):
        self.app = app
        self.config = config
        self.authenticator = Authenticator(config)
        self.buckets = TokenBuckets(config.rate_per_second, config.rate_burst)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._open(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        try:
            caller = await self.authenticator.identify(scope)
        except Denied as denied:
            await _deny(denied, scope, receive, send)
            return
        wait = self.buckets.wait_seconds(caller)
        if wait > 0:
            answer = _error(429, f"rate limit: {self.config.rate_per_second:g} requests/s")
            answer.headers["Retry-After"] = str(math.ceil(wait))
            await answer(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _open(self, path: str) -> bool:
        return path in OPEN_PATHS or (path == METRICS_PATH and self.config.metrics_in_cluster)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _deny(denied: Denied, scope: Scope, receive: Receive, send: Send) -> None:
    log.info("denied %s %s: %d", scope.get("method"), scope.get("path"), denied.status)
    answer = _error(denied.status, denied.reason)
    if denied.status == 401:
        answer.headers["WWW-Authenticate"] = 'Bearer realm="underwrite"'
    await answer(scope, receive, send)


def security_schemes(config: AuthConfig) -> dict[str, Any]:
    """The OpenAPI security schemes this configuration accepts (none when auth is off)."""
    if not config.enabled:
        return {}
    schemes: dict[str, Any] = {}
    if config.tokens:
        schemes["entraId"] = {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": f"Entra ID access token for {config.audience} with the app role "
            f"{config.role}",
        }
    if config.api_keys_file:
        schemes["apiKey"] = {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
    return schemes
