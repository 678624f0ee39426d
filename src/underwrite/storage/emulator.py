"""The local Azure Blob emulator (Azurite) on loopback, for tests and a local DVC remote.

Azurite runs with a custom account whose random key is made once per location and
kept in LOCATION/account.json (gitignored), so no key is ever committed.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from underwrite.storage.credentials import fail_fast, write_private
from underwrite.storage.processes import is_azurite, signal_group, tail, wait_for_exit

if TYPE_CHECKING:  # the Azure SDK loads lazily, so `underwrite --help` stays fast
    from azure.storage.blob import BlobServiceClient, ContainerClient

logger = logging.getLogger(__name__)

ACCOUNT = "underwrite"
AZURITE = Path("node_modules/.bin/azurite-blob")
SETUP_HINT = "run `npm ci` (or `make setup`) in the repository root"


class EmulatorError(RuntimeError):
    """Azurite could not be started, reached or configured; the message says how to fix it."""


@dataclass(frozen=True)
class Running:
    """What the pidfile says about an Azurite started from a location."""

    pid: int
    host: str
    port: int


@dataclass
class Emulator:
    """An Azurite blob service on HOST:PORT with its data, log, pidfile and key in LOCATION."""

    host: str = "127.0.0.1"
    port: int = 10000
    location: Path = Path(".azurite")
    account: str = ACCOUNT
    executable: Path = AZURITE
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def blob_endpoint(self) -> str:
        return f"http://{self.host}:{self.port}/{self.account}"

    @property
    def log_file(self) -> Path:
        return self.location / "azurite.log"

    @property
    def pid_file(self) -> Path:
        return self.location / "azurite.pid.json"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.account};"
            f"AccountKey={self.account_key()};BlobEndpoint={self.blob_endpoint};"
        )

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            raise EmulatorError(f"host {self.host} is not a loopback address; use 127.0.0.1")

    def account_key(self) -> str:
        """The account key for this location, generated on first use and kept in account.json."""
        path = self.location / "account.json"
        keys = json.loads(path.read_text()) if path.exists() else {}
        if self.account not in keys:
            self.location.mkdir(parents=True, exist_ok=True)
            keys[self.account] = base64.b64encode(secrets.token_bytes(64)).decode()
            write_private(path, json.dumps(keys))
        return str(keys[self.account])

    def service_client(self, timeout: float = 5.0) -> BlobServiceClient:
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient.from_connection_string(
            self.connection_string, **fail_fast(timeout)
        )

    def running(self) -> Running | None:
        """The Azurite started from this location, if its process is still alive."""
        if not self.pid_file.exists():
            return None
        try:
            record = Running(**json.loads(self.pid_file.read_text()))
        except (ValueError, TypeError):
            logger.warning("ignoring unreadable pidfile %s", self.pid_file)
            return None
        return record if is_azurite(record.pid) else None

    def is_running(self) -> bool:
        """Whether our Azurite is alive on this host and port and accepts our key."""
        record = self.running()
        if record is None or (record.host, record.port) != (self.host, self.port):
            return False
        return self._answers()

    def start(self, timeout: float = 30.0) -> None:
        """Start Azurite in the background, or reuse ours if it already runs on this port."""
        record = self.running()
        if record is not None:
            if (record.host, record.port) != (self.host, self.port):
                raise EmulatorError(
                    f"Azurite from {self.location} already runs on {record.host}:{record.port} "
                    f"(pid {record.pid}); use --port {record.port}, or stop it first "
                    "(`underwrite azurite stop`)"
                )
            logger.info("reusing Azurite pid %s on %s", record.pid, self.blob_endpoint)
            self._wait_until_ready(timeout)
            return
        self._check_installed()
        self._check_port_free()
        self._launch()
        self._wait_until_ready(timeout)

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop our Azurite if it runs; returns whether there was one to stop."""
        record = self.running()
        self.pid_file.unlink(missing_ok=True)
        if record is None:
            return False
        # Azurite leads its own process group (start_new_session), so this reaches only it.
        signal_group(record.pid, signal.SIGTERM)
        if not wait_for_exit(record.pid, self._process, timeout):
            logger.warning(
                "Azurite pid %s ignored SIGTERM for %ss; killing it", record.pid, timeout
            )
            signal_group(record.pid, signal.SIGKILL)
            wait_for_exit(record.pid, self._process, timeout)
        self._process = None
        return True

    def ensure_container(self, name: str) -> ContainerClient:
        """Create the container NAME if it does not exist yet, and return a client for it."""
        from azure.core.exceptions import ResourceExistsError

        container = self.service_client().get_container_client(name)
        try:
            container.create_container()
        except ResourceExistsError:
            logger.debug("container %s already exists", name)
        return container

    def _arguments(self) -> list[str]:
        return [
            *("--blobHost", self.host, "--blobPort", str(self.port)),
            *("--location", str(self.location / "data")),
            *("--silent", "--skipApiVersionCheck", "--loose"),
            "--disableTelemetry",  # Azurite reports usage unless told not to; we stay on loopback
            "--disableProductStyleUrl",  # the account always comes from the url path
        ]

    def _check_installed(self) -> None:
        if not self.executable.exists():
            raise EmulatorError(
                f"Azurite is not installed ({self.executable} is missing): {SETUP_HINT}"
            )
        if shutil.which("node") is None:
            raise EmulatorError(
                f"Node.js is not on PATH: install Node.js 20 or newer, then {SETUP_HINT}"
            )

    def _check_port_free(self) -> None:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError as error:
                raise EmulatorError(
                    f"port {self.port} on {self.host} is already in use by another program "
                    f"({error.strerror}); stop it, or choose another port with "
                    "`underwrite azurite start --port 10010` (or AZURITE_PORT=10010), "
                    "and pass the same port to `underwrite azurite configure-dvc`"
                ) from error

    def _launch(self) -> None:
        (self.location / "data").mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "AZURITE_ACCOUNTS": f"{self.account}:{self.account_key()}"}
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.executable), *self._arguments()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # keeps running after the CLI exits, deaf to Ctrl+C
            )
        record = Running(self._process.pid, self.host, self.port)
        self.pid_file.write_text(json.dumps(record.__dict__))
        logger.info("started Azurite pid %s on %s", record.pid, self.blob_endpoint)

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self._health()
            if health == "ok":
                return
            if health == "rejected":
                raise EmulatorError(
                    f"Azurite on {self.blob_endpoint} rejects the key in {self.location}/"
                    "account.json (it was started with another one); restart it: "
                    "`underwrite azurite stop`, then `underwrite azurite start`"
                )
            if not self._alive():
                self.pid_file.unlink(missing_ok=True)
                raise EmulatorError(
                    f"Azurite exited while starting; see {self.log_file}:\n{tail(self.log_file)}"
                )
            time.sleep(0.2)
        if self._process is not None:  # only what this call launched; a reused one stays
            self.stop()
        raise EmulatorError(
            f"Azurite did not answer on {self.blob_endpoint} within {timeout:g}s; see its log "
            f"{self.log_file}, and `underwrite azurite stop` before starting it again"
        )

    def _alive(self) -> bool:
        # Our own child is judged by its handle: for a moment after exec, /proc shows no cmdline.
        if self._process is not None:
            return self._process.poll() is None
        return self.running() is not None

    def _answers(self) -> bool:
        return self._health() == "ok"

    def _health(self) -> str:
        """ok, rejected (it answers but not to our key) or down."""
        from azure.core.exceptions import AzureError, HttpResponseError

        try:
            self.service_client(timeout=2.0).get_account_information()
        except HttpResponseError as error:
            return "rejected" if error.status_code == 403 else "down"
        except AzureError:
            return "down"
        return "ok"


def is_loopback(host: str) -> bool:
    """Whether HOST (an address or "localhost") stays on this machine."""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def free_loopback_port() -> int:
    """A port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
