"""Files holding a key are readable by their owner only (0600)."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from underwrite.storage.commands import configure_dvc
from underwrite.storage.credentials import write_private
from underwrite.storage.emulator import Emulator

pytestmark = pytest.mark.integration


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_dvc_config_local_with_the_connection_string_is_0600(azurite: Emulator, dvc_repo: Path):
    subprocess.run([sys.executable, "-m", "dvc", "remote", "add", "-d", "blob", "azure://keys"],
                   cwd=dvc_repo, check=True, timeout=60)  # fmt: skip
    configure_dvc(azurite, dvc_repo)
    local = dvc_repo / ".dvc" / "config.local"
    assert azurite.account_key() in local.read_text()
    assert _mode(local) == 0o600


def test_emulator_account_key_file_is_0600(azurite: Emulator):
    assert _mode(azurite.location / "account.json") == 0o600


def test_write_private_narrows_an_existing_world_readable_file(tmp_path: Path):
    path = tmp_path / "config.local"
    path.write_text("old")
    path.chmod(0o644)
    write_private(path, "secret")
    assert path.read_text() == "secret" and _mode(path) == 0o600
