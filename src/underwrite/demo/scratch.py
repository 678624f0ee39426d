"""The scratch copy: the working tree in a fresh git repository, with its own home and ports.

The faulty revision reads applicant income 666 (HMDA's "unknown") as $666k: the copy's
schema.py gets 666 removed from the `sentinels=` of the appinc Column, if it is there. The fix
declares it again, as a real commit on a branch. Both are small text edits of that one call,
and fail with a clear error when the call is not where they expect it.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from underwrite.demo import DemoError
from underwrite.storage.emulator import free_loopback_port

SCHEMA = Path("src/underwrite/schema.py")
# the unit test that lists every column with sentinels: the fix adds appinc to it
SENTINEL_TEST = Path("tests/unit/test_validation.py")
SENTINEL_COUNTS = re.compile(r"(result\.sentinels == \{)([^{}]*)(\})")
APPINC_CALL = 'Column("appinc",'
UNKNOWN_INCOME = 666
SENTINELS = re.compile(r"sentinels=\(([^()]*)\)")
GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "underwrite demo",
    "GIT_AUTHOR_EMAIL": "demo@underwrite.invalid",
    "GIT_COMMITTER_NAME": "underwrite demo",
    "GIT_COMMITTER_EMAIL": "demo@underwrite.invalid",
}
# the machine's settings that would point the copy's commands elsewhere
DROPPED = ("AZURE_", "DVC_", "BENTOML_", "UNDERWRITE_")


@dataclass(frozen=True)
class Scratch:
    """The demo's folder: ROOT/repo (the copy), ROOT/home (its config), ROOT/artefacts."""

    root: Path
    source: Path  # the project the copy is made from
    venv_bin: Path = field(default_factory=lambda: Path(sys.executable).parent)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def repo(self) -> Path:
        return self.root / "repo"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def azurite(self) -> Path:
        return self.root / "azurite"

    @property
    def artefacts(self) -> Path:
        return self.root / "artefacts"

    def uv_folder(self) -> list[str]:
        """Where uv is: `bentoml build` locks the bento's packages with it."""
        found = shutil.which("uv") or shutil.which("uv", path=str(self.source / ".tools/bin"))
        return [str(Path(found).parent)] if found else []

    def env(self) -> dict[str, str]:
        """The copy's commands: its code first, this venv's tools, private DVC, Azure and
        BentoML homes, one worker per server, its own staging and production ports."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED)}
        home = self.home
        tools = [str(self.venv_bin), *self.uv_folder(), env.get("PATH", "")]
        return (
            env
            | GIT_IDENTITY
            | {
                "PATH": os.pathsep.join(tools),
                "PYTHONPATH": str(self.repo / "src"),
                "DVC_NO_ANALYTICS": "1",
                "DVC_SITE_CACHE_DIR": str(home / "dvc-site"),
                "DVC_GLOBAL_CONFIG_DIR": str(home / "dvc-global"),
                "DVC_SYSTEM_CONFIG_DIR": str(home / "dvc-system"),
                "AZURE_CONFIG_DIR": str(home / "azure"),
                "BENTOML_HOME": str(home / "bentoml"),
                "BENTOML_DO_NOT_TRACK": "True",
                "UNDERWRITE_WORKERS": "1",
                "UNDERWRITE_STAGING_PORT": str(self.ports["staging"]),
                "UNDERWRITE_PROD_PORT": str(self.ports["prod"]),
            }
        )


def free_ports(names: tuple[str, ...]) -> dict[str, int]:
    """A distinct free loopback port for each name."""
    ports: dict[str, int] = {}
    while len(ports) < len(names):
        port = free_loopback_port()
        if port not in ports.values():
            ports[names[len(ports)]] = port
    return ports


def working_tree_files(root: Path) -> list[str]:
    """Files git tracks or would track (not ignored), as they are now in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return sorted({p for p in listed.split("\0") if p and (root / p).is_file()})


def copy_project(scratch: Scratch) -> int:
    """Copy the working tree, the DVC cache (so unchanged stages come from the run cache) and
    a link to node_modules (Azurite); return how many files were copied."""
    files = working_tree_files(scratch.source)
    for name in files:
        (scratch.repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(scratch.source / name, scratch.repo / name)
    cache = scratch.source / ".dvc" / "cache"
    if cache.is_dir():
        shutil.copytree(cache, scratch.repo / ".dvc" / "cache", dirs_exist_ok=True)
    node_modules = scratch.source / "node_modules"
    if node_modules.is_dir():
        (scratch.repo / "node_modules").symlink_to(node_modules)
    return len(files)


# ---- the fault and the fix ---------------------------------------------------------------
def appinc_call(text: str) -> tuple[int, int]:
    """Where the appinc Column call starts and ends (after its closing parenthesis)."""
    start = text.find(APPINC_CALL)
    if start < 0:
        raise DemoError(
            f"{SCHEMA} has no `{APPINC_CALL} ...)` call: the demo edits that column's "
            "sentinels; update underwrite.demo.scratch.APPINC_CALL to its new spelling"
        )
    depth = 0
    for end in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0 and text[end] == ")":
            return start, end + 1
    raise DemoError(f"{SCHEMA}: the `{APPINC_CALL}` call never closes its parenthesis")


def _codes(inside: str) -> list[str]:
    return [code.strip() for code in inside.split(",") if code.strip()]


def _tuple(codes: list[str]) -> str:
    return f"({codes[0]},)" if len(codes) == 1 else f"({', '.join(codes)})"


def _is_unknown_income(code: str) -> bool:
    try:
        return float(code.replace("_", "")) == UNKNOWN_INCOME
    except ValueError:
        return False


def without_unknown_income(call: str) -> str:
    """The appinc call with 666 taken out of its sentinels (unchanged when absent)."""
    found = SENTINELS.search(call)
    if found is None:
        return call
    kept = [c for c in _codes(found.group(1)) if not _is_unknown_income(c)]
    if kept:
        return call.replace(found.group(0), f"sentinels={_tuple(kept)}")
    if re.search(r"sentinels=\([^()]*\),[ ]*", call):  # keep the line breaks around it
        return re.sub(r"sentinels=\([^()]*\),[ ]*", "", call, count=1)
    return re.sub(r",\s*\)$", ")", re.sub(r",?\s*sentinels=\([^()]*\)", "", call))


def with_unknown_income(call: str) -> str:
    """The appinc call with 666 declared as a sentinel ("unknown")."""
    found = SENTINELS.search(call)
    if found is None:
        for keyword in ("monotone=", "why="):  # inside the call, so no line grows too long
            if keyword in call:
                return call.replace(keyword, f"sentinels=({UNKNOWN_INCOME},), {keyword}", 1)
        return call[:-1].rstrip().rstrip(",") + f", sentinels=({UNKNOWN_INCOME},))"
    codes = _codes(found.group(1))
    if any(_is_unknown_income(c) for c in codes):
        return call
    return call.replace(found.group(0), f"sentinels={_tuple([*codes, str(UNKNOWN_INCOME)])}")


def edit_schema(repo: Path, edit) -> bool:
    """Apply EDIT to the appinc call of REPO's schema.py; return whether the file changed."""
    path = repo / SCHEMA
    text = path.read_text()
    start, end = appinc_call(text)
    new = text[:start] + edit(text[start:end]) + text[end:]
    try:
        ast.parse(new)
    except SyntaxError as err:
        raise DemoError(f"editing {SCHEMA}'s appinc column left invalid Python: {err}") from err
    path.write_text(new)
    return new != text


def count_appinc_in_sentinel_test(repo: Path) -> bool:
    """Add appinc (0 sentinels found) to the test's expected sentinel counts, as the fix's
    author would; return whether it changed (False: no such test, or appinc already there)."""
    path = repo / SENTINEL_TEST
    if not path.is_file():
        return False
    text = path.read_text()
    found = SENTINEL_COUNTS.search(text)
    if found is None or '"appinc"' in found.group(2):
        return False
    path.write_text(
        text.replace(found.group(0), f'{found.group(1)}"appinc": 0, {found.group(2)}}}')
    )
    return True
