"""What doctor tells a user for each Azure failure, and which credential it picks; no server."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.identity import CredentialUnavailableError
from azure.storage.blob import StorageErrorCode

from underwrite.storage.credentials import (
    RemoteSettings,
    connect,
    container_of,
    safe_default_credential,
)
from underwrite.storage.errors import DoctorError, Target, explain

TARGET = Target(
    remote="blob",
    container="models",
    account="acct",
    endpoint="https://acct.blob.core.windows.net",
    credential="connection string from .dvc/config.local",
)


def _storage_error(
    kind: type[HttpResponseError], code: str | StorageErrorCode, message: str
) -> Callable[[], Exception]:
    """An error shaped like the ones azure-storage-blob raises: the code sits on .error_code."""

    def make() -> Exception:
        error = kind(message=f"{message}\nRequestId:1\nErrorCode:{code}")
        error.error_code = code  # type: ignore[attr-defined]
        return error

    return make


@pytest.mark.parametrize(
    ("make_error", "expected"),
    [
        (
            _storage_error(ResourceNotFoundError, "ContainerNotFound", "The container is missing."),
            [
                "container 'models' does not exist in account 'acct'",
                "az storage container create --account-name acct --name models",
            ],
        ),
        (
            _storage_error(ClientAuthenticationError, "AuthenticationFailed", "Server failed."),
            ["rejected the connection string from .dvc/config.local", "wrong or expired"],
        ),
        (
            _storage_error(
                HttpResponseError,
                StorageErrorCode.AUTHORIZATION_FAILURE,
                "Server failed to authenticate the request.",
            ),
            ["rejected the connection string", "underwrite azurite configure-dvc"],
        ),
        (
            _storage_error(
                ClientAuthenticationError,
                "AuthorizationPermissionMismatch",
                "This request is not authorized to perform this operation using this permission.",
            ),
            ["'Storage Blob Data Contributor' role on container 'models' or account 'acct'"],
        ),
        (
            _storage_error(
                HttpResponseError,
                "AuthorizationFailure",
                "This request is not authorized to perform this operation.",
            ),
            ["Storage Blob Data Contributor", "firewall"],
        ),
        (
            _storage_error(
                HttpResponseError,
                "KeyBasedAuthenticationNotPermitted",
                "Key based authentication is not permitted on this storage account.",
            ),
            ["account 'acct' does not allow key or SAS access", "az login"],
        ),
        (
            _storage_error(ResourceNotFoundError, "ResourceNotFound", "Not found."),
            ["has no account 'acct'"],
        ),
        (
            _storage_error(HttpResponseError, "InvalidResourceName", "Invalid name."),
            ["3-63 lowercase letters", "dvc remote modify blob url azure://<container>"],
        ),
        (
            _storage_error(HttpResponseError, "ServerBusy", "The server is busy."),
            ["answered ServerBusy: The server is busy"],
        ),
        (
            lambda: ServiceRequestError("HTTPConnection(...): [Errno 111] Connection refused"),
            ["nothing answers at https://acct.blob.core.windows.net", "make azurite"],
        ),
        (
            lambda: ServiceRequestError(
                "Failed to resolve 'acct.blob.core.windows.net' "
                "([Errno -2] Name or service not known)"
            ),
            ["host acct.blob.core.windows.net does not resolve", "account name 'acct'"],
        ),
        (
            lambda: ServiceResponseError("Read timed out. (read timeout=5)"),
            ["cannot reach https://acct.blob.core.windows.net in time", "firewall"],
        ),
        (
            lambda: CredentialUnavailableError("Azure CLI not found on path"),
            ["no credential could sign in to account 'acct'", "Azure CLI not found on path"],
        ),
        (
            lambda: ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token"),
            ["no credential could sign in", "az login", "azure/login with OIDC"],
        ),
    ],
)
def test_explain_names_the_problem_and_the_fix(
    make_error: Callable[[], Exception], expected: list[str]
) -> None:
    message = explain(make_error(), TARGET)

    for part in expected:
        assert part in message


@pytest.fixture
def no_azure_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in list(os.environ):
        if variable.startswith("AZURE_"):
            monkeypatch.delenv(variable)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(tmp_path / "az"))


def _settings(**options: str) -> RemoteSettings:
    options = {"url": "azure://models", **options}
    return RemoteSettings("blob", options["url"], options, dict.fromkeys(options, ".dvc/config"))


@pytest.mark.usefixtures("no_azure_env")
def test_connect_prefers_the_remote_connection_string_over_env(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "other")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")
    settings = _settings(
        connection_string="DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5;"
        "EndpointSuffix=core.windows.net"
    )

    target = connect(settings).target

    assert target.credential == "connection string from .dvc/config"
    assert (target.account, target.endpoint) == ("acct", "https://acct.blob.core.windows.net")


@pytest.mark.usefixtures("no_azure_env")
def test_connect_uses_account_and_key_from_env_like_dvc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct")
    monkeypatch.setenv("AZURE_STORAGE_KEY", "a2V5")

    access = connect(_settings())

    assert access.target.credential == "account key from env AZURE_STORAGE_KEY"
    assert access.target.endpoint == "https://acct.blob.core.windows.net"
    assert access.token_credential is None


@pytest.mark.usefixtures("no_azure_env")
def test_connect_reads_the_az_cli_storage_config(tmp_path: Path) -> None:
    (tmp_path / "az").mkdir()
    (tmp_path / "az" / "config").write_text("[storage]\naccount = acct\nsas_token = sv=1&sig=x\n")

    target = connect(_settings()).target

    assert target.credential == "SAS token from az CLI config [storage]"
    assert "sig=" not in target.endpoint


@pytest.mark.usefixtures("no_azure_env")
def test_connect_uses_a_service_principal_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for part in ("TENANT_ID", "CLIENT_ID", "CLIENT_SECRET"):
        monkeypatch.setenv(f"AZURE_STORAGE_{part}", "x")

    access = connect(_settings(account_name="acct"))

    assert access.target.credential == "service principal from env AZURE_STORAGE_CLIENT_SECRET"
    assert type(access.token_credential).__name__ == "ClientSecretCredential"


@pytest.mark.usefixtures("no_azure_env")
def test_connect_with_only_an_account_name_uses_a_token_credential() -> None:
    access = connect(_settings(account_name="acct"))

    assert access.target.credential.startswith("DefaultAzureCredential")
    assert access.token_credential is not None


@pytest.mark.usefixtures("no_azure_env")
def test_connect_refuses_an_empty_connection_string_variable_as_dvc_would_fail_on_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", "")
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "acct")

    with pytest.raises(DoctorError, match="AZURE_STORAGE_CONNECTION_STRING is set but empty"):
        connect(_settings())


@pytest.mark.usefixtures("no_azure_env")
def test_connect_without_account_or_connection_string_says_what_to_set() -> None:
    with pytest.raises(DoctorError, match=r"no storage account is set(.|\n)*az login"):
        connect(_settings())


def test_default_credential_never_prompts_and_skips_managed_identity_unless_asked() -> None:
    def chain(settings: RemoteSettings) -> set[str]:
        credential = safe_default_credential(settings, timeout=2)
        return {type(c).__name__ for c in credential.credentials}

    default = chain(_settings(account_name="acct"))
    opted_in = chain(
        RemoteSettings("blob", "azure://m", {"exclude_managed_identity_credential": False})
    )

    assert "AzureCliCredential" in default
    assert not default & {"InteractiveBrowserCredential", "ManagedIdentityCredential"}
    assert "ManagedIdentityCredential" in opted_in


@pytest.mark.parametrize(
    ("url", "container"), [("azure://models", "models"), ("azure://models/dvc/store", "models")]
)
def test_container_of_reads_the_container_from_the_url(url: str, container: str) -> None:
    assert container_of(url) == container


@pytest.mark.parametrize("url", ["s3://bucket", "azure://", "/local/path"])
def test_container_of_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match=r"expected azure://<container>\[/path\]"):
        container_of(url)
