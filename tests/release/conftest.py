"""Fixtures of the release tests (defined in release_support.py, which the tests import too)."""

from release_support import release_repo, release_template  # noqa: F401
