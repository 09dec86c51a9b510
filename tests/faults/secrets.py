"""The stack's secrets, and where they must never appear: responses and service logs."""

from __future__ import annotations

from pathlib import Path

SECRET_VARIABLES = ("BATCHPIPE_API_TOKEN", "BATCHPIPE_S3_SECRET_ACCESS_KEY")


def stack_secrets(stack_env: dict[str, str], secrets: object) -> dict[str, str]:
    """Name -> value of every secret: the API token, the S3 secret, the PostgreSQL passwords."""
    found = {name: stack_env[name] for name in SECRET_VARIABLES}
    for name, value in vars(secrets).items():
        if "password" in name or "secret" in name:
            found[f"stack.json {name}"] = value
    return {name: value for name, value in found.items() if value}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """Names of the secrets that appear in ``text``."""
    return [name for name, value in secrets.items() if value in text]


def leaks_in_logs(logs_dir: Path, secrets: dict[str, str]) -> dict[str, list[str]]:
    """Log file -> names of the secrets it contains (the services' logs and the servers')."""
    out: dict[str, list[str]] = {}
    for log in sorted(logs_dir.glob("*.log")):
        found = leaks(log.read_text(errors="replace"), secrets)
        if found:
            out[log.name] = found
    return out
