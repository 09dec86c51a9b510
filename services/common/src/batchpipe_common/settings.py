"""Settings shared by every batchpipe process, read from ``BATCHPIPE_*`` environment variables.

Each process gets only what it uses: ``ServiceSettings`` holds Kafka, S3, the contracts, the
API token and logging (the uploader and the s3-producer extend it); ``EndpointSettings`` adds
the PostgreSQL DSN (the pg-sink and the tools that read the warehouse extend it).

Secrets may come from files instead of the environment (docker compose ``secrets:``): a file
in ``BATCHPIPE_SECRETS_DIR`` (default ``/run/secrets``, when it exists) named like the
variable in lower case, e.g. ``batchpipe_api_token``, is read by pydantic-settings'
``secrets_dir`` source; an environment variable of the same name wins over it. The DSN's
password may be kept apart from the DSN in ``BATCHPIPE_PG_PASSWORD`` (or its file), so that
``BATCHPIPE_PG_DSN`` names only host, role and database.

``load_settings`` validates at start and turns pydantic's error into one clear message that
names the environment variable that is missing or wrong.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BATCHPIPE_"
REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_SECRETS_DIR = Path("/run/secrets")


def secrets_dir() -> Path | None:
    """Where secret files are read from: ``BATCHPIPE_SECRETS_DIR`` or ``/run/secrets``, if any."""
    folder = Path(os.environ.get(f"{ENV_PREFIX}SECRETS_DIR") or DEFAULT_SECRETS_DIR)
    return folder if folder.is_dir() else None


def settings_config() -> SettingsConfigDict:
    """The configuration every batchpipe settings class uses (prefix, secret files, frozen)."""
    return SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", frozen=True, secrets_dir=secrets_dir()
    )


def _default_contracts_dir() -> Path:
    """``contracts/`` of the source checkout, or ``/app/contracts`` in a container."""
    candidate = REPO_ROOT / "contracts"
    return candidate if candidate.is_dir() else Path("/app/contracts")


class SettingsError(RuntimeError):
    """Raised when the environment does not describe a usable configuration."""


class ServiceSettings(BaseSettings):
    """What every service reads: Kafka, S3, contracts, token, logging. No PostgreSQL."""

    model_config = settings_config()

    kafka_bootstrap: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    s3_endpoint_url: str | None = Field(
        default=None, description="S3 API endpoint; unset means AWS S3 itself"
    )
    s3_bucket: str = Field(default="batchpipe-raw", min_length=3)
    s3_region: str = "us-east-1"
    s3_access_key_id: SecretStr | None = None
    s3_secret_access_key: SecretStr | None = None
    contracts_dir: Path = Field(default_factory=_default_contracts_dir)
    manifests_topic: str = "batchpipe.manifests"
    api_token: SecretStr | None = Field(
        default=None, description="When set, mutating endpoints require 'Bearer <token>'"
    )
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


def with_password(dsn: str, password: str) -> str:
    """``dsn`` with ``password`` put in (a password already in the DSN is replaced)."""
    parts = urlsplit(dsn)
    if not parts.username:
        raise ValueError("a DSN needs a user name to take a password")
    host = parts.netloc.rpartition("@")[2]
    netloc = f"{parts.username}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


class EndpointSettings(ServiceSettings):
    """Where the servers are, PostgreSQL included. Point these at AWS S3, an existing Kafka
    or PostgreSQL freely."""

    pg_dsn: SecretStr = Field(description="PostgreSQL DSN of the warehouse database")
    pg_password: SecretStr | None = Field(
        default=None, description="the DSN's password, when the DSN is given without it"
    )

    @model_validator(mode="after")
    def _password_into_dsn(self) -> EndpointSettings:
        if self.pg_password is not None:
            dsn = with_password(self.pg_dsn.get_secret_value(), self.pg_password.get_secret_value())
            object.__setattr__(self, "pg_dsn", SecretStr(dsn))
        return self


S = TypeVar("S", bound=BaseSettings)


def describe_validation_error(exc: ValidationError, model: type[BaseSettings]) -> str:
    """One line per problem, naming the environment variable rather than the field."""
    prefix = str(model.model_config.get("env_prefix", ""))
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "<settings>"
        var = f"{prefix}{field}".upper()
        if err["type"] == "missing":
            lines.append(f"{var} is required but not set")
        else:
            lines.append(f"{var} is invalid: {err['msg']} (got {err.get('input')!r:.80})")
    return "; ".join(lines)


def load_settings(model: type[S], **overrides: Any) -> S:
    """Build ``model`` from the environment, raising ``SettingsError`` with a clear message."""
    try:
        return model(**overrides)
    except ValidationError as exc:
        raise SettingsError(
            f"invalid {model.__name__} configuration: {describe_validation_error(exc, model)}"
        ) from exc
