"""Fixtures of the CI tests (defined in ci_support.py, which the tests import too)."""

from ci_support import blob_service, copy_repo, pipeline_repo, report_env  # noqa: F401
