"""The operator's path needs only Docker: ``make up`` and ``make compose-demo`` run with Java,
Maven, PostgreSQL's binaries and even Python hidden from PATH, up to the point where they hand
over to the engine (a stub ``docker`` here records what it is asked); checkouts keep LF."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from batchpipe_common.settings import REPO_ROOT

TOOLCHAINS = (
    r"java|javac|jshell|mvn|mvnw|psql|initdb|pg_ctl|pg_config|pg_isready|postgres|pg_ctlcluster"
)
PYTHON = r"python[\d.]*|pip[\d.]*|uv|uvx"
HIDDEN = re.compile(rf"^({TOOLCHAINS}|{PYTHON}|docker)$")
# what `make up` / `make compose-demo` may use from the host, besides docker
SCRATCH_FILES = ("Makefile", ".env.example", "infra/docker/write-env.sh", "docker-compose.yml")


def _host_tools(bin_dir: Path, hide: re.Pattern[str]) -> Path:
    """A PATH folder with every tool of this machine except the ``hide`` ones."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            link = bin_dir / entry.name
            if hide.match(entry.name) or link.exists() or not os.access(entry.path, os.X_OK):
                continue
            link.symlink_to(entry.path)
    return bin_dir


def _docker_stub(bin_dir: Path, record: Path) -> None:
    stub = bin_dir / "docker"
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{record}"\n')
    stub.chmod(0o755)


@pytest.fixture
def docker_only(tmp_path: Path) -> tuple[Path, dict[str, str], Path]:
    """A scratch checkout, a PATH without toolchains, and the file the stub docker writes."""
    checkout = tmp_path / "checkout"
    for name in SCRATCH_FILES:
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, checkout / name)
    bin_dir = _host_tools(tmp_path / "bin", HIDDEN)
    record = tmp_path / "docker.calls"
    _docker_stub(bin_dir, record)
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return checkout, env, record


def _make(target: str, checkout: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", target, *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def test_nothing_but_docker_is_on_the_path(docker_only: tuple[Path, dict[str, str], Path]) -> None:
    _, env, _ = docker_only
    for tool in ("java", "mvn", "psql", "initdb", "pg_ctl", "python3", "uv"):
        assert shutil.which(tool, path=env["PATH"]) is None, tool
    assert shutil.which("docker", path=env["PATH"])
    assert shutil.which("make", path=env["PATH"]) and shutil.which("sh", path=env["PATH"])


def test_make_up_and_compose_demo_ask_for_docker_only(
    docker_only: tuple[Path, dict[str, str], Path],
) -> None:
    checkout, env, record = docker_only
    output = _make("up", checkout, env)
    output += _make("compose-demo", checkout, env, "COMPOSE_DEMO_ARGS=--rows 10")
    calls = record.read_text().splitlines()
    uid_gid = f"{os.getuid()}:{os.getgid()}"
    assert calls == [
        "compose up --build --detach --wait --wait-timeout 900",
        "compose ps",
        f"compose run --rm --build --user {uid_gid} demo --rows 10",
    ]
    assert (checkout / ".env").exists(), "make up wrote the secrets"
    assert (checkout / "data" / "inbox").is_dir(), "the inbox the demo container writes into"
    asked = re.findall(r"java|maven|mvn|postgres|psql|python|uv sync|setup\.sh", output, re.I)
    assert not asked, output


def test_setup_services_does_not_ask_for_system_packages(tmp_path: Path) -> None:
    """The workspace target leaves PostgreSQL, Java and Maven to the local stack's targets."""
    bin_dir = _host_tools(tmp_path / "bin", re.compile(rf"^({TOOLCHAINS})$"))
    for tool in ("java", "mvn", "initdb"):
        assert shutil.which(tool, path=str(bin_dir)) is None
    result = subprocess.run(
        ["bash", str(REPO_ROOT / "scripts" / "setup.sh"), "services"],
        env={"PATH": str(bin_dir), "HOME": os.environ.get("HOME", str(tmp_path))},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "missing system packages" not in result.stderr
    assert not re.search(r"postgresql|openjdk|maven", result.stdout + result.stderr, re.I)


def test_shell_scripts_keep_lf_endings_on_every_checkout() -> None:
    attributes = (REPO_ROOT / ".gitattributes").read_text().splitlines()
    assert "*.sh text eol=lf" in attributes
    scripts = subprocess.run(
        ["git", "ls-files", "*.sh"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert scripts
    checked = subprocess.run(
        ["git", "check-attr", "eol", "--", *scripts],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert all(line.endswith(": eol: lf") for line in checked), checked
    for script in scripts:
        assert b"\r\n" not in (REPO_ROOT / script).read_bytes(), script
