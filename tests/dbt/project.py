"""A copy of the dbt project for another set of contracts, generated as the repo's is.

Registering a dataset writes no SQL: its contract goes into a contracts folder, the two
generators (sources, staging + batch audit) rewrite the project's generated files, and dbt
builds it. The copy lives in a temporary folder so the repo's own generated files stay as
they are.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import yaml

from batchpipe_common.contracts import load_contracts
from batchpipe_common.settings import REPO_ROOT

SCRIPTS = REPO_ROOT / "dbt/scripts"
COPIED = ("dbt_project.yml", "profiles.yml", "selectors.yml", "macros", "models", "tests")


def load_script(name: str) -> ModuleType:
    """One of dbt/scripts/*.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def project_for_contracts(contracts_dir: Path, into: Path) -> Path:
    """The dbt project copied to ``into`` with its generated files made from ``contracts_dir``."""
    into.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        source = REPO_ROOT / "dbt" / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("target"))
        else:
            shutil.copy2(source, into / name)
    sources = load_script("generate_sources")
    document = sources.build_sources(
        load_contracts(contracts_dir), sources.BOOKKEEPING_SQL.read_text(encoding="utf-8")
    )
    (into / "models/staging/__sources.yml").write_text(
        yaml.safe_dump(document, sort_keys=False), encoding="utf-8"
    )
    for path, text in load_script("generate_staging").render_all(contracts_dir, into).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return into
