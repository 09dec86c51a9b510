"""The project's static checks, run with every test run: each pre-commit hook passes.

``.pre-commit-config.yaml`` is the one list of checks (ruff, mypy over the services and over
orchestration/, sqlfluff, hadolint, the compose schema). ``make lint`` runs exactly that list
(``pre-commit run --all-files``) and so does this module, one test per hook; the tests below
also keep the list, the Makefile and the tools' pinned versions in agreement.
"""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from batchpipe_common.settings import REPO_ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
CONFIG = REPO_ROOT / ".pre-commit-config.yaml"
MAKEFILE = REPO_ROOT / "Makefile"
DBT_REQUIREMENTS = REPO_ROOT / "dbt" / "requirements.txt"
# What the project promises to check before a commit (issue 14); more hooks are welcome.
REQUIRED_HOOKS = {
    "ruff-check",
    "ruff-format",
    "mypy",
    "mypy-orchestration",
    "sqlfluff",
    "hadolint",
    "compose-schema",
}


def _hooks() -> list[dict[str, Any]]:
    config = yaml.safe_load(CONFIG.read_text())
    return [hook for repo in config["repos"] for hook in repo["hooks"]]


HOOK_IDS = [hook["id"] for hook in _hooks()]


@pytest.mark.parametrize("hook_id", HOOK_IDS)
def test_hook_passes(hook_id: str) -> None:
    assert PRE_COMMIT.exists(), "pre-commit is a dev dependency: scripts/setup.sh installs it"
    result = subprocess.run(
        [str(PRE_COMMIT), "run", hook_id, "--all-files", "--color", "never"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    output = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, output
    assert re.search(r"\.Passed$", result.stdout, re.MULTILINE), f"no file was checked: {output}"


def test_make_lint_runs_exactly_the_pre_commit_hooks() -> None:
    """`make lint` and this module run one list: the hooks of .pre-commit-config.yaml."""
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", MAKEFILE.read_text(), re.MULTILINE)
    assert recipe, "the Makefile has a lint target"
    commands = [line.strip().lstrip("@") for line in recipe.group(1).splitlines()]
    assert commands == ["$(VENV)/pre-commit run --all-files"]
    assert set(HOOK_IDS) >= REQUIRED_HOOKS
    assert len(HOOK_IDS) == len(set(HOOK_IDS)), "hook ids are unique"


def _dbt_pin(package: str) -> str:
    for line in DBT_REQUIREMENTS.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip() == package:
            return version.strip()
    raise AssertionError(f"{package} is not pinned in {DBT_REQUIREMENTS}")


def test_hook_tools_are_pinned_to_the_project_environments_versions() -> None:
    """A hook installs its tool from PyPI at the version the project's environment holds
    (uv.lock for the services' venv, dbt/requirements.txt for dbt's), so a check gives the
    same answer in pre-commit, in `make lint` and wherever the tool is run by hand."""
    pinned: dict[str, str] = {}
    for hook in _hooks():
        if hook["language"] == "system":
            assert hook["entry"].startswith((".venv/bin/", ".venvs/")), hook["id"]
            continue
        assert hook["language"] == "python", hook["id"]
        for requirement in hook["additional_dependencies"]:
            name, sep, version = requirement.partition("==")
            assert sep, f"{hook['id']}: pin {requirement} with =="
            pinned[name] = version
    assert pinned
    for name, version in pinned.items():
        expected = _dbt_pin(name) if name == "sqlfluff" else importlib.metadata.version(name)
        assert version == expected, f"{name}: hook pins {version}, the environment has {expected}"
