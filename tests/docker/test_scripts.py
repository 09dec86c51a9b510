"""The shell scripts the containers run, executed here with the server binaries stubbed:
each stub records the command line it was given, so the tests check what would run."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from batchpipe_common.settings import REPO_ROOT
from tests.docker.model import (
    ENV_EXAMPLE,
    WRITE_ENV,
    example_env,
    load_script_module,
    raw_compose,
    read_env_file,
    services,
    write_secret_files,
)

DOCKER_DIR = REPO_ROOT / "infra" / "docker"
SHELL_SCRIPTS = sorted(DOCKER_DIR.rglob("*.sh"))
SHELLCHECK = Path(sys.executable).parent / "shellcheck"
SEAWEEDFS_START = DOCKER_DIR / "seaweedfs" / "start.sh"
AIRFLOW_API_SERVER = DOCKER_DIR / "airflow" / "airflow-api-server.sh"
WITH_SECRETS = DOCKER_DIR / "airflow" / "with_secrets.py"


def _stub(bin_dir: Path, name: str, record: Path) -> None:
    """An executable ``name`` that writes its arguments, one per line, to ``record``."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    stub = bin_dir / name
    stub.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{record}"\n')
    stub.chmod(0o755)


def _run(script: Path, env: dict[str, str], bin_dir: Path) -> subprocess.CompletedProcess[str]:
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    return subprocess.run(
        [_shell(script), str(script)],
        env={"PATH": path, "HOME": str(bin_dir), **env},
        capture_output=True,
        text=True,
        check=False,
    )


def _shell(script: Path) -> str:
    return "bash" if "bash" in script.read_text().splitlines()[0] else "sh"


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=[s.name for s in SHELL_SCRIPTS])
def test_shellcheck_passes(script: Path) -> None:
    result = subprocess.run(
        [str(SHELLCHECK), "--severity=style", str(script)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_seaweedfs_serves_s3_with_the_credentials_from_env_and_its_secret(tmp_path: Path) -> None:
    compose = services()
    seaweedfs = compose["seaweedfs"]
    secrets = write_secret_files(seaweedfs, example_env(), tmp_path / "secrets")
    env = dict(seaweedfs["environment"])
    secret_file = env["S3_SECRET_ACCESS_KEY_FILE"]
    assert secret_file.startswith("/run/secrets/")
    env["S3_SECRET_ACCESS_KEY_FILE"] = str(secrets / Path(secret_file).name)
    (config_mount,) = seaweedfs["configs"]
    assert seaweedfs["entrypoint"] == ["/bin/sh", config_mount["target"]]
    assert raw_compose()["configs"][config_mount["source"]]["file"] == (
        f"./{SEAWEEDFS_START.relative_to(REPO_ROOT)}"
    )
    config = tmp_path / "s3.json"
    record = tmp_path / "weed.args"
    _stub(tmp_path / "bin", "weed", record)
    result = _run(SEAWEEDFS_START, {**env, "SEAWEEDFS_S3_CONFIG": str(config)}, tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    args = record.read_text().splitlines()
    assert args[:1] == ["server"] and "-s3" in args
    assert f"-s3.config={config}" in args
    assert "-dir=/data" in args and "seaweedfs-data:/data" in compose["seaweedfs"]["volumes"]
    port = next(a.split("=")[1] for a in args if a.startswith("-s3.port="))
    assert compose["uploader"]["environment"]["BATCHPIPE_S3_ENDPOINT_URL"].endswith(f":{port}")
    assert f"127.0.0.1:{port}/healthz" in " ".join(compose["seaweedfs"]["healthcheck"]["test"])
    identity = json.loads(config.read_text())["identities"][0]
    assert identity["credentials"] == [
        {"accessKey": env["S3_ACCESS_KEY_ID"], "secretKey": example_env()["S3_SECRET_ACCESS_KEY"]}
    ]
    assert {"Read", "Write", "List"} <= set(identity["actions"])
    assert config.stat().st_mode & 0o077 == 0, "the secret is readable by its owner only"


def test_seaweedfs_refuses_credentials_that_would_break_its_json(tmp_path: Path) -> None:
    _stub(tmp_path / "bin", "weed", tmp_path / "weed.args")
    env = {"S3_ACCESS_KEY_ID": "key", "S3_SECRET_ACCESS_KEY": 'se"cret'}
    result = _run(SEAWEEDFS_START, env, tmp_path / "bin")
    assert result.returncode == 1 and "quotes" in result.stderr
    assert not (tmp_path / "weed.args").exists()


def test_airflow_api_server_gets_the_admin_password_from_env(tmp_path: Path) -> None:
    record = tmp_path / "airflow.args"
    _stub(tmp_path / "bin", "airflow", record)
    (tmp_path / "bin" / "python").symlink_to(sys.executable)
    passwords = tmp_path / "passwords.json"
    env = {
        "AIRFLOW_ADMIN_USERNAME": "admin",
        "AIRFLOW_ADMIN_PASSWORD": "s3cret-Pass",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }
    result = _run(AIRFLOW_API_SERVER, env, tmp_path / "bin")
    assert result.returncode == 0, result.stderr
    assert record.read_text().splitlines() == ["api-server"]
    assert json.loads(passwords.read_text()) == {"admin": "s3cret-Pass"}
    api = services()["airflow-api-server"]
    assert api["command"] == ["bash", "/opt/batchpipe/bin/airflow-api-server.sh"]
    assert api["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] == "admin:admin"


def test_write_env_fills_every_secret_and_never_overwrites(tmp_path: Path) -> None:
    target = tmp_path / ".env"
    first = subprocess.run(
        ["sh", str(WRITE_ENV), str(ENV_EXAMPLE), str(target)], capture_output=True, check=True
    )
    assert first.returncode == 0
    env = read_env_file(target)
    example = read_env_file(ENV_EXAMPLE)
    assert set(env) == set(example)
    assert all(env.values()), [k for k, v in env.items() if not v]
    secrets = [k for k, v in example.items() if not v]
    assert "AIRFLOW_JWT_SECRET" in secrets and "PG_SINK_PASSWORD" in secrets
    for key in secrets:
        assert re.fullmatch(r"[A-Za-z0-9_=-]{32,}", env[key]), key
    assert len(base64.urlsafe_b64decode(env["AIRFLOW_FERNET_KEY"])) == 32
    assert len({env[k] for k in secrets}) == len(secrets), "each secret is its own"
    assert target.stat().st_mode & 0o077 == 0

    target.write_text("KEPT=1\n")
    subprocess.run(["sh", str(WRITE_ENV), str(ENV_EXAMPLE), str(target)], check=True)
    assert target.read_text() == "KEPT=1\n"


def test_compose_demo_puts_the_sample_where_the_containers_see_it(tmp_path: Path) -> None:
    from batchpipe_cli import compose_demo

    compose = services(example_env())
    demo_inbox = next(v for v in compose["demo"]["volumes"] if ":/data/inbox" in v)
    source = demo_inbox.split(":")[0]
    assert f"{source}:/data/inbox:ro" in compose["uploader"]["volumes"]
    assert compose["demo"]["environment"]["BATCHPIPE_INBOX_DIR"] == "/data/inbox"
    inbox = tmp_path / "inbox"
    sample = compose_demo.sample_file(inbox, rows=50)
    assert sample.relative_to(inbox).parts == ("bank_transactions", "demo-bank-50.csv")
    assert len(sample.read_text().splitlines()) == 51, "header and 50 rows"
    assert sample.stat().st_mode & 0o444 == 0o444, "readable by the containers' users"


def test_with_secrets_fills_only_placeholders_of_secret_files(tmp_path: Path) -> None:
    module = load_script_module(WITH_SECRETS)
    (tmp_path / "pg_airflow_password").write_text("s3cret\n")
    (tmp_path / "api_token").write_text("tok")
    secrets = module.read_secrets(tmp_path)
    assert secrets == {"PG_AIRFLOW_PASSWORD": "s3cret", "API_TOKEN": "tok"}
    env = {
        "CONN": "postgresql://airflow:${PG_AIRFLOW_PASSWORD}@postgres/airflow",
        "JSON": '{"password": "${API_TOKEN}", "other": "${NOT_A_SECRET}"}',
        "PLAIN": "x",
    }
    assert module.fill(env, secrets) == {
        "CONN": "postgresql://airflow:s3cret@postgres/airflow",
        "JSON": '{"password": "tok", "other": "${NOT_A_SECRET}"}',
    }
    assert module.read_secrets(tmp_path / "missing") == {}


def test_with_secrets_runs_its_command_with_the_secrets_filled_in(tmp_path: Path) -> None:
    (tmp_path / "airflow_fernet_key").write_text("key")
    result = subprocess.run(
        [sys.executable, str(WITH_SECRETS), "sh", "-c", 'printf %s "$AIRFLOW__CORE__FERNET_KEY"'],
        env={
            "PATH": os.environ["PATH"],
            "BATCHPIPE_SECRETS_DIR": str(tmp_path),
            "AIRFLOW__CORE__FERNET_KEY": "${AIRFLOW_FERNET_KEY}",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "key"
