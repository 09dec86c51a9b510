"""CHANGELOG.md's latest release: the version batchpipe must report everywhere."""

from __future__ import annotations

import re

from batchpipe_common.settings import REPO_ROOT

CHANGELOG = REPO_ROOT / "CHANGELOG.md"
RELEASE = re.compile(r"^## \[(?P<version>\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", re.MULTILINE)


def latest_release() -> str:
    """The version of the first release heading (``## [X.Y.Z] - YYYY-MM-DD``), which comes
    after ``## [Unreleased]`` (Keep a Changelog)."""
    text = CHANGELOG.read_text()
    match = RELEASE.search(text)
    assert match, "CHANGELOG.md has a release heading: ## [X.Y.Z] - YYYY-MM-DD"
    assert text.index("## [Unreleased]") < match.start(), "Unreleased comes first"
    return match["version"]
