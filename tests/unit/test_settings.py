"""Settings are validated at start with a message naming the variable."""

from __future__ import annotations

import pytest

from batchpipe_common.settings import EndpointSettings, SettingsError, load_settings


def test_missing_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BATCHPIPE_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("BATCHPIPE_PG_DSN", "postgresql://u:p@127.0.0.1:5432/db")
    with pytest.raises(SettingsError, match="BATCHPIPE_KAFKA_BOOTSTRAP is required but not set"):
        load_settings(EndpointSettings)


def test_bad_value_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("BATCHPIPE_PG_DSN", "postgresql://u:p@127.0.0.1:5432/db")
    monkeypatch.setenv("BATCHPIPE_LOG_FORMAT", "xml")
    with pytest.raises(SettingsError, match="BATCHPIPE_LOG_FORMAT is invalid"):
        load_settings(EndpointSettings)


def test_secrets_are_not_printed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BATCHPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("BATCHPIPE_PG_DSN", "postgresql://u:hunter2@127.0.0.1:5432/db")
    settings = load_settings(EndpointSettings)
    assert "hunter2" not in repr(settings)
    assert settings.pg_dsn.get_secret_value().endswith("/db")
