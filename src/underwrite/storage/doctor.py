"""`underwrite doctor`: check a DVC Azure remote end to end before anyone waits on a push.

The remote's url and credential are resolved as dvc-azure and adlfs do (credentials.py),
then one small blob under PROBE_PREFIX is written, read back and deleted, with short timeouts.
Run it alone with `python -m underwrite.storage.doctor`.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from underwrite.storage.credentials import Access, connect, read_remote
from underwrite.storage.errors import DoctorError, Target, explain, what_to_set

if TYPE_CHECKING:  # the Azure SDK loads lazily, so `underwrite --help` stays fast
    from azure.storage.blob import BlobClient

logger = logging.getLogger(__name__)

PROBE_PREFIX = ".underwrite-doctor/"
STORAGE_SCOPE = "https://storage.azure.com/.default"
T = TypeVar("T")


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    ok: bool
    step: str
    detail: str = ""


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
    cache: Annotated[
        bool, typer.Option("--cache", help="Verify the local DVC cache files against their md5s.")
    ] = False,
) -> None:
    """Check that a DVC Azure remote can be written, read and cleaned before you push
    (or, with --cache, that every local cache file still has the bytes of its md5)."""
    if cache:
        check_cache(repo)
        return
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


def check_cache(repo: Path) -> None:
    """Read every file of the local DVC cache; name the corrupt ones and how to fix them."""
    from underwrite.storage.cache import Corrupt, cache_folder, verify_cache

    folder = cache_folder(repo)
    intact, corrupt = 0, []
    for result in verify_cache(folder):
        if isinstance(result, Corrupt):
            corrupt.append(result)
            typer.echo(f"✗ {result.path}: md5 {result.actual}, stored as {result.expected}")
        else:
            intact += 1
    typer.echo(f"{folder}: {intact} intact, {len(corrupt)} corrupt")
    if corrupt:
        typer.echo(
            "delete each corrupt file, then `dvc pull --force` fetches the right bytes "
            "(`dvc checkout` would copy the corrupt ones back)"
        )
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(doctor_command)
