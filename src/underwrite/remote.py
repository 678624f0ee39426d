"""`underwrite doctor`: check a DVC Azure remote end to end before anyone waits on a push.

The remote's url and credential are resolved the way dvc-azure and adlfs do, then one
small blob under PROBE_PREFIX is written, read back and deleted, with short timeouts.
"""

from __future__ import annotations

import configparser
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import urlsplit

import typer

if TYPE_CHECKING:  # the Azure SDK and dvc load lazily, so `underwrite --help` stays fast
    from azure.core.credentials import TokenCredential
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import BlobClient, BlobServiceClient

logger = logging.getLogger(__name__)

PROBE_PREFIX = ".underwrite-doctor/"
STORAGE_SCOPE = "https://storage.azure.com/.default"
T = TypeVar("T")

# Where dvc-azure (through the az CLI config) and adlfs look when the remote has no value.
_ENV = {
    "connection_string": ("AZURE_STORAGE_CONNECTION_STRING",),
    "account_name": ("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_ACCOUNT_NAME"),
    "account_key": ("AZURE_STORAGE_KEY", "AZURE_STORAGE_ACCOUNT_KEY"),
    "sas_token": ("AZURE_STORAGE_SAS_TOKEN",),
    "tenant_id": ("AZURE_STORAGE_TENANT_ID",),
    "client_id": ("AZURE_STORAGE_CLIENT_ID",),
    "client_secret": ("AZURE_STORAGE_CLIENT_SECRET",),
}
_AZ_CONFIG = {
    "connection_string": "connection_string",
    "account_name": "account",
    "account_key": "key",
    "sas_token": "sas_token",
}


class DoctorError(Exception):
    """A failed check: which step failed, and the message that says how to fix it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    ok: bool
    step: str
    detail: str = ""


@dataclass(frozen=True)
class RemoteSettings:
    """A DVC Azure remote as dvc sees it: merged options and the file each one came from."""

    name: str
    url: str
    options: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def container(self) -> str:
        return container_of(self.url)

    def lookup(self, option: str) -> tuple[str, str] | None:
        """(value, source) of OPTION from the remote's config, env, then ~/.azure/config."""
        if self.options.get(option):
            return str(self.options[option]), self.sources.get(option, "dvc config")
        for variable in _ENV.get(option, ()):
            if os.environ.get(variable):
                return os.environ[variable], f"env {variable}"
        az_config = _az_cli_storage_config()
        if az_config.get(_AZ_CONFIG.get(option, "")):
            return az_config[_AZ_CONFIG[option]], "az CLI config [storage]"
        return None


@dataclass(frozen=True)
class Target:
    """What a message names: the remote, its container and account, and how doctor signed in."""

    remote: str = "blob"
    container: str = "<container>"
    account: str = "<account>"
    endpoint: str = "<endpoint>"
    credential: str = "credential"


def what_to_set(target: Target, problem: str, detail: str = "") -> str:
    """PROBLEM, the ways to give remote TARGET.remote a credential, then DETAIL."""
    r = target.remote
    details = f"\nwhat was tried:\n{detail}" if detail else ""
    return (
        f"{problem}. Give remote '{r}' a credential, one of:\n"
        f"- local emulator: `underwrite azurite configure-dvc --remote {r}`\n"
        f"- connection string: `dvc remote modify --local {r} connection_string '<string>'` "
        "or env AZURE_STORAGE_CONNECTION_STRING\n"
        f"- account key: `dvc remote modify {r} account_name <account>` and "
        f"`dvc remote modify --local {r} account_key <key>`, or env AZURE_STORAGE_ACCOUNT "
        "and AZURE_STORAGE_KEY\n"
        f"- Microsoft Entra ID: `dvc remote modify {r} account_name <account>`, then `az login` "
        "(on your machine) or azure/login with OIDC (in CI)" + details
    )


def _container_missing(target: Target, _: str) -> str:
    return (
        f"container '{target.container}' does not exist in account '{target.account}'; "
        f"create it with `az storage container create --account-name {target.account} "
        f"--name {target.container} --auth-mode login` "
        "(local emulator: `underwrite azurite configure-dvc`)"
    )


def _not_allowed(target: Target, text: str) -> str:
    if "authenticate" in text.lower():  # Azurite answers a wrong key with AuthorizationFailure
        return _key_rejected(target, text)
    return (
        f"{target.endpoint} refused this {target.credential}: {text}. Signed-in identities need "
        f"the 'Storage Blob Data Contributor' role on container '{target.container}' or account "
        f"'{target.account}' (Owner or Contributor alone give no data access; new roles take a "
        "few minutes); a SAS token needs read, write, delete and list permissions (sp=rwdl); "
        "and if the account has a firewall, it must allow this network"
    )


def _key_rejected(target: Target, text: str) -> str:
    return (
        f"{target.endpoint} rejected the {target.credential}: {text}. The key, connection "
        "string or SAS token is wrong or expired: copy it again (`az storage account keys list "
        f"--account-name {target.account}`), or for the local emulator rerun "
        "`underwrite azurite configure-dvc`"
    )


def _keys_disabled(target: Target, _: str) -> str:
    return (
        f"account '{target.account}' does not allow key or SAS access; drop the key from the "
        "remote and sign in instead (`az login`, or azure/login with OIDC in CI) with the "
        "'Storage Blob Data Contributor' role"
    )


def _no_account(target: Target, _: str) -> str:
    return (
        f"{target.endpoint} answered but has no account '{target.account}': check the account "
        "name in the connection string (local emulator: rerun `underwrite azurite configure-dvc`)"
    )


def _bad_container_name(target: Target, _: str) -> str:
    return (
        f"'{target.container}' is not a valid container name: use 3-63 lowercase letters, "
        f"digits and hyphens, and change the remote: `dvc remote modify {target.remote} url "
        "azure://<container>`"
    )


_EXPLAIN_BY_CODE: dict[str, Callable[[Target, str], str]] = {
    "ContainerNotFound": _container_missing,
    "AuthenticationFailed": _key_rejected,
    "InvalidAuthenticationInfo": _key_rejected,
    "AuthorizationFailure": _not_allowed,
    "AuthorizationPermissionMismatch": _not_allowed,
    "AuthorizationResourceTypeMismatch": _not_allowed,
    "KeyBasedAuthenticationNotPermitted": _keys_disabled,
    "ResourceNotFound": _no_account,
    "InvalidResourceName": _bad_container_name,
}


def _unreachable(target: Target, text: str) -> str:
    lowered = text.lower()
    if any(
        s in lowered
        for s in (
            "failed to resolve",
            "name or service not known",
            "getaddrinfo",
            "nodename nor",
            "name resolution",
            "no address associated",
        )
    ):
        host = urlsplit(target.endpoint).hostname
        return (
            f"host {host} does not resolve: check the storage account name "
            f"'{target.account}' (endpoint {target.endpoint})"
        )
    if "refused" in lowered:
        return (
            f"nothing answers at {target.endpoint} (connection refused). For the local "
            "emulator start it with `make azurite` (`underwrite azurite start`); otherwise check "
            "the endpoint and the account name in the connection string"
        )
    return (
        f"cannot reach {target.endpoint} in time ({text.splitlines()[0]}); check the "
        "network, proxy and the storage account's firewall"
    )


def explain(error: Exception, target: Target) -> str:
    """What an Azure SDK error means for TARGET, and how to fix it."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        ServiceRequestError,
        ServiceResponseError,
    )

    code = getattr(error, "error_code", None)
    code = str(getattr(code, "value", code) or "")
    text = str(error).split("\n", 1)[0].strip().rstrip(".")
    if code in _EXPLAIN_BY_CODE:
        return _EXPLAIN_BY_CODE[code](target, text)
    if isinstance(error, ClientAuthenticationError):  # includes CredentialUnavailableError
        problem = f"no credential could sign in to account '{target.account}'"
        return what_to_set(target, problem, str(error))
    if isinstance(error, ServiceRequestError | ServiceResponseError):
        return _unreachable(target, str(error))
    return f"{target.endpoint} answered {code or type(error).__name__}: {text}"


@dataclass(frozen=True)
class Access:
    """A client for the storage account and what to tell the user about how it signs in."""

    target: Target
    client: BlobServiceClient
    token_credential: TokenCredential | None = None


def container_of(url: str) -> str:
    """The container of a DVC Azure url azure://<container>[/path]."""
    parts = urlsplit(url)
    if parts.scheme != "azure" or not parts.netloc:
        raise ValueError(f"'{url}' is not an Azure remote url; expected azure://<container>[/path]")
    return parts.netloc


def _az_cli_storage_config() -> dict[str, str]:
    folder = Path(os.environ.get("AZURE_CONFIG_DIR", Path.home() / ".azure"))
    parser = configparser.ConfigParser()
    parser.read(folder / "config")
    return dict(parser["storage"]) if parser.has_section("storage") else {}


def read_remote(repo: Path, name: str = "") -> RemoteSettings:
    """The DVC remote NAME (default: the default remote) of the repo at or above REPO."""
    from dvc.config import Config, ConfigError  # dvc is slow to import; only doctor needs it
    from dvc.repo import NotDvcRepoError, Repo

    try:
        config = Config(dvc_dir=Repo.find_dvc_dir(str(repo)))
    except NotDvcRepoError as error:
        raise DoctorError(
            "remote", f"{error}; run doctor inside a DVC repo or pass --repo"
        ) from error
    except ConfigError as error:
        raise DoctorError("remote", f"the DVC config in {repo} is invalid: {error}") from error
    name = name or config["core"].get("remote", "")
    if name not in config["remote"]:
        missing = f"no DVC remote '{name}'" if name else "no default DVC remote"
        known = ", ".join(sorted(config["remote"])) or "none"
        raise DoctorError(
            "remote",
            f"{missing} (remotes: {known}); add one with "
            "`dvc remote add -d blob azure://<container>` or pass --remote NAME",
        )
    options = dict(config["remote"][name])
    settings = RemoteSettings(name, options["url"], options, _option_sources(config, name))
    try:
        settings.container  # noqa: B018 - validates the url early
    except ValueError as error:
        raise DoctorError("remote", f"remote '{name}': {error}") from error
    return settings


def _option_sources(config: Any, name: str) -> dict[str, str]:
    labels = {"local": ".dvc/config.local", "repo": ".dvc/config"}
    sources: dict[str, str] = {}
    for level in reversed(config.LEVELS):  # the most specific level wins, as in dvc
        if level in config.files:
            for option in config.load_one(level)["remote"].get(name, {}):
                sources.setdefault(option, labels.get(level, config.files[level]))
    return sources


def safe_default_credential(settings: RemoteSettings, timeout: float) -> DefaultAzureCredential:
    """DefaultAzureCredential without the parts that prompt a person or wait long.

    Left in: env service principal, workload identity (OIDC), az and azd CLI logins.
    Managed identity only when the remote sets exclude_managed_identity_credential false,
    because its probe waits on a metadata endpoint that only Azure machines have.
    """
    from azure.identity import DefaultAzureCredential

    options = settings.options
    return DefaultAzureCredential(
        exclude_interactive_browser_credential=True,
        exclude_visual_studio_code_credential=True,
        exclude_shared_token_cache_credential=True,
        exclude_powershell_credential=True,
        exclude_broker_credential=True,
        exclude_managed_identity_credential=options.get(
            "exclude_managed_identity_credential", True
        ),
        exclude_environment_credential=options.get("exclude_environment_credential", False),
        process_timeout=max(1, round(timeout)),
    )


def _account_credential(settings: RemoteSettings, timeout: float) -> tuple[str, str, Any]:
    """(kind, source, credential) in the order adlfs tries them when there is an account name."""
    for option, kind in (("account_key", "account key"), ("sas_token", "SAS token")):
        found = settings.lookup(option)
        if found:
            return kind, found[1], found[0]
    principal = {o: settings.lookup(o) for o in ("tenant_id", "client_id", "client_secret")}
    if all(principal.values()):
        from azure.identity import ClientSecretCredential

        tenant, client, secret = (found[0] for found in principal.values() if found)
        source = principal["client_secret"][1]  # type: ignore[index]
        return "service principal", source, ClientSecretCredential(tenant, client, secret)
    if settings.options.get("allow_anonymous_login"):
        return "anonymous login", settings.sources.get("allow_anonymous_login", ""), None
    return (
        "DefaultAzureCredential",
        "az login, OIDC or env",
        safe_default_credential(settings, timeout),
    )


def _refuse_empty_connection_string(settings: RemoteSettings) -> None:
    # dvc-azure passes a set-but-empty variable on to adlfs, which fails on the blank string.
    variable = "AZURE_STORAGE_CONNECTION_STRING"
    if not settings.options.get("connection_string") and os.environ.get(variable) == "":
        raise DoctorError(
            "credential",
            f"env {variable} is set but empty, and dvc then fails on a blank connection "
            "string; unset it (in GitHub Actions, set it only when the secret exists)",
        )


def connect(settings: RemoteSettings, timeout: float = 10.0) -> Access:
    """Choose the credential as dvc-azure would and build a client that gives up quickly."""
    from azure.storage.blob import BlobServiceClient

    limits = {"retry_total": 0, "connection_timeout": timeout, "read_timeout": timeout}
    target = Target(remote=settings.name, container=settings.container)
    _refuse_empty_connection_string(settings)
    found = settings.lookup("connection_string")
    if found:
        try:
            client = BlobServiceClient.from_connection_string(found[0], **limits)
        except ValueError as error:
            raise DoctorError(
                "credential",
                f"the connection string from {found[1]} is malformed ({error}); copy it again",
            ) from error
        kind, source, credential = "connection string", found[1], None
    else:
        account = settings.lookup("account_name")
        if account is None:
            raise DoctorError("credential", what_to_set(target, "no storage account is set"))
        kind, source, credential = _account_credential(settings, timeout)
        url = f"https://{account[0]}.blob.core.windows.net"
        client = BlobServiceClient(url, credential=credential, **limits)
    endpoint = client.primary_endpoint.split("?")[0].rstrip("/")
    target = Target(
        settings.name,
        settings.container,
        client.account_name or "",
        endpoint,
        f"{kind} from {source}",
    )
    token = credential if hasattr(credential, "get_token") else None
    return Access(target, client, token)


def _check_token(access: Access, timeout: float) -> None:
    """Get a storage token in a thread so a stuck credential cannot hang the doctor."""
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            access.token_credential.get_token(STORAGE_SCOPE)  # type: ignore[union-attr]
        except BaseException as error:  # handed to the caller below
            outcome.append(error)

    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        message = f"the credential chain gave no token within {timeout:g}s"
        raise DoctorError("sign-in", what_to_set(access.target, message))
    if outcome:
        raise DoctorError("sign-in", explain(outcome[0], access.target)) from outcome[0]


def _call(step: str, target: Target, action: Callable[[], T]) -> T:
    from azure.core.exceptions import AzureError

    try:
        return action()
    except AzureError as error:
        raise DoctorError(step, explain(error, target)) from error


def _discard(blob: BlobClient) -> None:
    from azure.core.exceptions import AzureError

    try:
        blob.delete_blob()
    except AzureError:
        logger.warning("could not delete the test blob %s; delete it by hand", blob.blob_name)


def _probe(access: Access) -> Iterator[Check]:
    target = access.target
    container = access.client.get_container_client(target.container)
    _call(f"container '{target.container}'", target, container.get_container_properties)
    yield Check(True, f"container '{target.container}' exists", target.endpoint)
    blob = container.get_blob_client(f"{PROBE_PREFIX}{uuid.uuid4().hex}.txt")
    payload = f"written by underwrite doctor at {datetime.now(UTC).isoformat()}".encode()
    _call("write a test blob", target, lambda: blob.upload_blob(payload, overwrite=True))
    yield Check(True, f"wrote {blob.blob_name}")
    try:
        data = _call("read the test blob", target, lambda: blob.download_blob().readall())
    except DoctorError:
        _discard(blob)
        raise
    if data != payload:
        _discard(blob)
        raise DoctorError(
            "read the test blob",
            f"read back {len(data)} bytes that differ "
            f"from the {len(payload)} written; something rewrites blobs",
        )
    yield Check(True, f"read it back ({len(data)} bytes, same content)")
    _call("delete the test blob", target, blob.delete_blob)
    yield Check(True, f"deleted {blob.blob_name}")


def run_doctor(repo: Path = Path("."), remote: str = "", timeout: float = 10.0) -> Iterator[Check]:
    """Check REMOTE of REPO step by step: one Check per step, stopping at the first failure."""
    try:
        settings = read_remote(repo, remote)
        yield Check(True, f"remote '{settings.name}' is {settings.url}", settings.sources["url"])
        access = connect(settings, timeout)
        yield Check(True, f"credential: {access.target.credential}", access.target.endpoint)
        if access.token_credential is not None:
            _check_token(access, timeout)
            yield Check(True, "signed in with Microsoft Entra ID")
        yield from _probe(access)
    except DoctorError as error:
        yield Check(False, error.step, str(error))


def doctor_command(
    remote: Annotated[
        str, typer.Option(help="DVC remote to check [default: the default remote]")
    ] = "",
    repo: Annotated[Path, typer.Option(help="The DVC repository.")] = Path("."),
    timeout: Annotated[float, typer.Option(help="Seconds each network step may take.")] = 10.0,
) -> None:
    """Check that a DVC Azure remote can be written, read and cleaned before you push."""
    # The chain logs every credential it tried; the failure message below already lists them.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)
    passed = True
    for check in run_doctor(repo, remote, timeout):
        passed = check.ok
        if check.ok:
            typer.echo(f"✓ {check.step}" + (f" ({check.detail})" if check.detail else ""))
        else:
            typer.echo(f"✗ {check.step}\n  " + check.detail.replace("\n", "\n  "))
    if not passed:
        raise typer.Exit(1)
    typer.echo("remote is ready for dvc push and dvc pull")


if __name__ == "__main__":
    typer.run(doctor_command)
