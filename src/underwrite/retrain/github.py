"""The retraining pull request: opened, or updated when one is open, through GitHub's API.

The scheduled workflow commits the new data version to a branch; ``underwrite retrain pr``
(in ``retrain``) then calls ``open_or_update_pr`` so a person decides whether it ships.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from underwrite.retrain import RetrainError


@dataclass(frozen=True)
class GitHub:
    """The few GitHub REST calls the loop needs (pull requests), with a token."""

    repository: str  # owner/name
    token: str
    api: str = "https://api.github.com"
    timeout: float = 30.0

    def request(self, method: str, path: str, body: dict | None = None) -> Any:
        import httpx

        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }
        url = f"{self.api.rstrip('/')}/repos/{self.repository}{path}"
        try:
            response = httpx.request(method, url, json=body, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as err:
            raise RetrainError(f"GitHub API {method} {path}: {err}") from None
        if response.status_code >= 400:
            raise RetrainError(
                f"GitHub API {method} {path}: {response.status_code} {response.text[:300]}"
            )
        return response.json()


PR_BODY_LIMIT = 60_000  # GitHub refuses bodies over 65,536 characters


def open_or_update_pr(
    github: GitHub, branch: str, base: str, title: str, body: str
) -> tuple[int, bool]:
    """The number of the open retraining PR from ``branch``, created if there is none."""
    if len(body) > PR_BODY_LIMIT:
        body = body[:PR_BODY_LIMIT] + "\n\n(report cut; the full report is in the run's artifacts)"
    owner = github.repository.split("/")[0]
    found = github.request("GET", f"/pulls?state=open&head={owner}:{branch}&base={base}")
    if found:
        number = int(found[0]["number"])
        github.request("PATCH", f"/pulls/{number}", {"title": title, "body": body})
        return number, False
    created = github.request(
        "POST", "/pulls", {"title": title, "head": branch, "base": base, "body": body}
    )
    return int(created["number"]), True
