"""The local DVC cache, verified: every cached file against the md5 it is stored under.

DVC trusts its cache: a cache file whose bytes changed (a disk error, an editor, a bad
copy) passes ``dvc status``, ``dvc pull`` and ``dvc repro``, and ``dvc checkout`` copies the
corrupt bytes back into the workspace. ``underwrite doctor --cache`` reads each file and
names the corrupt ones; the fix is to delete the entry and fetch it again from the remote.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from underwrite.io import file_md5

DIR_SUFFIX = ".dir"  # a directory's manifest: its md5 is of the manifest's own bytes


@dataclass(frozen=True)
class Corrupt:
    path: Path
    expected: str  # the md5 the file is stored under
    actual: str


def cache_folder(repo: Path) -> Path:
    """Where this repository's DVC cache keeps files by md5 (respects ``cache.dir``)."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        return Path(dvc.cache.local.path)


def cache_file(repo: Path, md5: str) -> Path:
    return cache_folder(repo) / md5[:2] / md5[2:]


def verify_cache(folder: Path) -> Iterator[Path | Corrupt]:
    """Each cache file checked: its path when intact, a ``Corrupt`` when its bytes differ."""
    for path in sorted(p for p in folder.glob("??/*") if p.is_file()):
        expected = path.parent.name + path.name.removesuffix(DIR_SUFFIX)
        actual = file_md5(path)
        yield path if actual == expected else Corrupt(path, expected, actual)


def repair_advice(repo: Path, md5: str, target: str) -> str:
    """How to get back the bytes dvc.lock records as MD5 for TARGET (a workspace path)."""
    from dvc.exceptions import NotDvcRepoError

    try:
        cached = cache_file(repo, md5)
    except NotDvcRepoError:
        return f"run `dvc pull --force {target}` in a DVC repository, or `dvc repro` to record it"
    if cached.is_file() and file_md5(cached) != md5:
        return (
            f"the DVC cache entry {cached} is corrupt too (`dvc checkout` would restore the same "
            f"bytes): delete it and run `dvc pull --force {target}` (`underwrite doctor --cache` "
            "checks the whole cache)"
        )
    if cached.is_file():
        return f"run `dvc checkout --force {target}` to restore it, or `dvc repro` to record it"
    return f"run `dvc pull --force {target}` to fetch it, or `dvc repro` to record it"
