"""Azure SDK errors turned into what went wrong with a DVC remote and how to fix it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit


class DoctorError(Exception):
    """A failed check: which step failed, and the message that says how to fix it."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(message)
        self.step = step


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
