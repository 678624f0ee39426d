"""Authentication with real token validation: a local RSA key pair, its JWKS on loopback.

Tokens are signed with a key generated here and checked by a real `bentoml serve` against
the JWKS a loopback HTTP server publishes, exactly as Entra ID's keys would be fetched.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import jwt
import pytest
from bentoml_support import Server, start_server
from cryptography.hazmat.primitives.asymmetric import rsa
from loopback_support import serve_in_thread

from underwrite.serving.auth import Authentication, TokenBuckets, client_headers
from underwrite.serving.config import AuthConfig, ServingConfig
from underwrite.serving.contract import golden_applications

ISSUER = "https://login.microsoftonline.com/00000000-test-tenant/v2.0"
AUDIENCE = "api://underwrite-test"
ROLE = "Underwrite.Predict"
KID = "test-key-1"
API_KEY = "k3y-for-the-smoke-suite"
GOOD = golden_applications()[0]


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def signing_key() -> rsa.RSAPrivateKey:
    return _private_key()


@pytest.fixture(scope="module")
def jwks_url(signing_key: rsa.RSAPrivateKey) -> Iterator[str]:
    """The public key as a JWKS document on a loopback HTTP server."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_key.public_key()))
    body = json.dumps({"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}).encode()

    class Keys(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with serve_in_thread(Keys) as url:
        yield f"{url}/discovery/v2.0/keys"


def token(key: rsa.RSAPrivateKey, kid: str = KID, **changes: object) -> str:
    """An access token as Entra ID issues one for an app with the role; CHANGES override."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": uuid.uuid4().hex,  # a caller of its own: no test spends another's rate limit
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "roles": [ROLE],
        **changes,
    }
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture(scope="module")
def secured(model_tag: str, jwks_url: str, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("secured")
    keys = workdir / "api-keys"
    keys.write_text(f"# caller key\nsmoke {API_KEY}\n")
    server = start_server(
        model_tag,
        workdir,
        workers=1,
        UNDERWRITE_ENVIRONMENT="staging",
        UNDERWRITE_AUTH_ISSUER=ISSUER,
        UNDERWRITE_AUTH_AUDIENCE=AUDIENCE,
        UNDERWRITE_AUTH_JWKS_URL=jwks_url,
        UNDERWRITE_API_KEYS_FILE=str(keys),
        UNDERWRITE_RATE_LIMIT_PER_SECOND="5",
        UNDERWRITE_RATE_LIMIT_BURST="5",
    )
    try:
        yield server
    finally:
        server.stop()


def predict(server: Server, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{server.url}/predict", json=GOOD, headers=headers, timeout=30)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.mark.integration
def test_predict_without_credentials_is_401_naming_what_to_send(secured: Server):
    answer = predict(secured, {})
    assert answer.status_code == 401
    assert "Bearer" in answer.json()["error"] and "X-API-Key" in answer.json()["error"]
    assert answer.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.integration
def test_predict_with_a_valid_token_is_200(secured: Server, signing_key):
    answer = predict(secured, bearer(token(signing_key)))
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["probability"] <= 1


@pytest.mark.integration
@pytest.mark.parametrize(
    ("changes", "status", "words"),
    [
        ({"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}, 401, "expired"),
        ({"aud": "api://someone-else"}, 401, "Audience"),
        ({"iss": "https://login.microsoftonline.com/other-tenant/v2.0"}, 401, "issuer"),
        ({"roles": ["Underwrite.Read"]}, 403, ROLE),
        ({"roles": None}, 403, ROLE),
        ({"exp": None}, 401, "exp"),
    ],
    ids=["expired", "wrong_audience", "wrong_issuer", "other_role", "no_roles", "no_expiry"],
)
def test_bad_token_is_refused(secured: Server, signing_key, changes, status, words):
    answer = predict(secured, bearer(token(signing_key, **changes)))
    assert answer.status_code == status, answer.text
    assert words in answer.json()["error"]


@pytest.mark.integration
@pytest.mark.parametrize("kid", [KID, "unknown-key"], ids=["same_kid", "unknown_kid"])
def test_token_signed_with_another_key_is_401(secured: Server, kid: str):
    answer = predict(secured, bearer(token(_private_key(), kid=kid)))
    assert answer.status_code == 401, answer.text


@pytest.mark.integration
def test_garbage_bearer_token_is_401(secured: Server):
    assert predict(secured, bearer("not.a.token")).status_code == 401


@pytest.mark.integration
def test_api_key_from_the_mounted_file_is_200_and_a_wrong_one_401(secured: Server):
    assert predict(secured, {"X-API-Key": API_KEY}).status_code == 200
    assert predict(secured, {"X-API-Key": API_KEY + "x"}).status_code == 401


@pytest.mark.integration
def test_probes_stay_open_and_metrics_need_credentials(secured: Server):
    for path in ("/readyz", "/livez", "/healthz"):
        assert httpx.get(f"{secured.url}{path}", timeout=10).status_code == 200, path
    assert httpx.get(f"{secured.url}/metrics", timeout=10).status_code == 401
    assert httpx.get(f"{secured.url}/docs.json", timeout=10).status_code == 401


@pytest.mark.integration
def test_openapi_declares_security_only_when_auth_is_on(secured: Server, served: Server):
    headers = {"X-API-Key": API_KEY}
    spec = httpx.get(f"{secured.url}/docs.json", headers=headers, timeout=10).json()
    assert set(spec["components"]["securitySchemes"]) == {"entraId", "apiKey"}
    assert "401" in spec["paths"]["/predict"]["post"]["responses"]
    local = httpx.get(f"{served.url}/docs.json", timeout=10).json()
    assert "securitySchemes" not in local["components"]
    assert "security" not in local["paths"]["/predict"]["post"]


@pytest.mark.integration
def test_caller_over_its_rate_is_429_with_retry_after(secured: Server, signing_key):
    headers = bearer(token(signing_key))
    with httpx.Client(timeout=30) as client:
        codes = [
            client.post(f"{secured.url}/predict", json=GOOD, headers=headers) for _ in range(12)
        ]
    limited = [a for a in codes if a.status_code == 429]
    assert limited and int(limited[0].headers["retry-after"]) >= 1
    assert predict(secured, bearer(token(signing_key))).status_code == 200  # others unaffected


@pytest.mark.integration
def test_local_service_without_auth_config_needs_no_credentials(served: Server):
    assert predict(served, {}).status_code == 200


def test_token_bucket_refills_at_its_rate():
    buckets = TokenBuckets(rate=2.0, burst=2)
    assert [buckets.wait_seconds("a", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.5]
    assert buckets.wait_seconds("b", now=0.0) == 0.0
    assert buckets.wait_seconds("a", now=0.5) == 0.0


def test_outside_local_use_the_service_refuses_to_start_without_auth():
    with pytest.raises(ValueError, match="authentication is required outside local use"):
        ServingConfig.from_env({"UNDERWRITE_ENVIRONMENT": "production"})
    with pytest.raises(ValueError, match="UNDERWRITE_ENVIRONMENT=kubernetes"):
        ServingConfig.from_env({"KUBERNETES_SERVICE_HOST": "10.0.0.1"})  # any pod
    assert not ServingConfig.from_env({}).auth.enabled
    off = {"UNDERWRITE_ENVIRONMENT": "staging", "UNDERWRITE_AUTH": "off"}
    assert not ServingConfig.from_env(off).auth.enabled


def test_tenant_id_sets_entra_issuer_and_keys():
    auth = AuthConfig.from_env(
        {"UNDERWRITE_AUTH_TENANT_ID": "t-1", "UNDERWRITE_AUTH_AUDIENCE": AUDIENCE}
    )
    assert auth.enabled and auth.issuer == "https://login.microsoftonline.com/t-1/v2.0"
    assert auth.jwks_url == "https://login.microsoftonline.com/t-1/discovery/v2.0/keys"


def test_half_configured_tokens_are_refused():
    with pytest.raises(ValueError, match="UNDERWRITE_AUTH_AUDIENCE"):
        AuthConfig.from_env({"UNDERWRITE_AUTH_TENANT_ID": "t-1"})


def test_metrics_open_only_when_scraped_in_cluster(tmp_path: Path):
    keys = tmp_path / "keys"
    keys.write_text("smoke abc\n")
    closed = Authentication(None, AuthConfig(api_keys_file=str(keys)))
    scraped = Authentication(None, AuthConfig(api_keys_file=str(keys), metrics_in_cluster=True))
    assert not closed._open("/metrics") and scraped._open("/metrics")


def test_clients_send_the_credentials_in_the_environment():
    assert client_headers({"UNDERWRITE_API_TOKEN": "t"}) == {"Authorization": "Bearer t"}
    assert client_headers({"UNDERWRITE_API_KEY": "k"}) == {"X-API-Key": "k"}
    assert client_headers({}) == {}
