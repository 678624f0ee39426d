"""A DVC Azure remote's url and credential, resolved the way dvc-azure and adlfs do.

Each option comes from the remote's DVC config, then the environment, then the az CLI
config; the credential is chosen in adlfs's order and never prompts a person.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from underwrite.storage.errors import DoctorError, Target, what_to_set

if TYPE_CHECKING:  # the Azure SDK and dvc load lazily, so `underwrite --help` stays fast
    from azure.core.credentials import TokenCredential
    from azure.identity import DefaultAzureCredential
    from azure.storage.blob import BlobServiceClient

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


def fail_fast(timeout: float) -> dict[str, Any]:
    """Blob client options that give up after TIMEOUT seconds, with no retries."""
    return {"retry_total": 0, "connection_timeout": timeout, "read_timeout": timeout}


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

    limits = fail_fast(timeout)
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


def write_private(path: Path, text: str) -> None:
    """Write a file that holds a key: readable by its owner only (0600) from its creation."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as out:
        out.write(text)
    path.chmod(0o600)  # an existing file keeps its old mode through os.open
