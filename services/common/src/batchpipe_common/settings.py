"""Settings shared by every batchpipe process, read from ``BATCHPIPE_*`` environment variables.

One model holds the endpoints (Kafka, PostgreSQL, S3); each service extends it with its own
fields. ``load_settings`` validates at start and turns pydantic's error into one clear message
that names the environment variable that is missing or wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BATCHPIPE_"
REPO_ROOT = Path(__file__).resolve().parents[4]


def _default_contracts_dir() -> Path:
    """``contracts/`` of the source checkout, or ``/app/contracts`` in a container."""
    candidate = REPO_ROOT / "contracts"
    return candidate if candidate.is_dir() else Path("/app/contracts")


class SettingsError(RuntimeError):
    """Raised when the environment does not describe a usable configuration."""


class EndpointSettings(BaseSettings):
    """Where the servers are. Point these at AWS S3, an existing Kafka or PostgreSQL freely."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    kafka_bootstrap: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    pg_dsn: SecretStr = Field(description="PostgreSQL DSN of the warehouse database")
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
