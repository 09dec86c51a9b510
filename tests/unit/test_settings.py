"""Settings are validated at start with a message naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchpipe_common.settings import (
    EndpointSettings,
    ServiceSettings,
    SettingsError,
    load_settings,
    secrets_dir,
    with_password,
)


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


def test_services_without_a_database_need_no_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    from batchpipe_producer.settings import ProducerSettings
    from batchpipe_uploader.settings import UploaderSettings

    monkeypatch.delenv("BATCHPIPE_PG_DSN", raising=False)
    monkeypatch.setenv("BATCHPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("BATCHPIPE_INBOX_DIR", "/tmp")
    for model in (ServiceSettings, UploaderSettings, ProducerSettings):
        settings = load_settings(model)
        assert not hasattr(settings, "pg_dsn"), model.__name__
    with pytest.raises(SettingsError, match="BATCHPIPE_PG_DSN is required but not set"):
        load_settings(EndpointSettings)


def test_secrets_are_read_from_files(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A file named like the variable (lower case) in the secrets folder is its value; the
    DSN's password may be one such file, put into the DSN."""
    monkeypatch.setenv("BATCHPIPE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    monkeypatch.setenv("BATCHPIPE_PG_DSN", "postgresql://batchpipe_sink@db:5432/warehouse")
    monkeypatch.delenv("BATCHPIPE_API_TOKEN", raising=False)
    (tmp_path / "batchpipe_api_token").write_text("tok-from-file\n")
    (tmp_path / "batchpipe_pg_password").write_text("p@ss/word")
    settings = EndpointSettings(_secrets_dir=tmp_path)
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "tok-from-file"
    dsn = settings.pg_dsn.get_secret_value()
    assert dsn == "postgresql://batchpipe_sink:p%40ss%2Fword@db:5432/warehouse"
    monkeypatch.setenv("BATCHPIPE_API_TOKEN", "tok-from-env")
    settings = EndpointSettings(_secrets_dir=tmp_path)
    assert settings.api_token is not None
    assert settings.api_token.get_secret_value() == "tok-from-env", "the environment wins"


def test_the_secrets_folder_is_used_only_when_it_exists(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("BATCHPIPE_SECRETS_DIR", str(tmp_path))
    assert secrets_dir() == tmp_path
    monkeypatch.setenv("BATCHPIPE_SECRETS_DIR", str(tmp_path / "missing"))
    assert secrets_dir() is None


def test_a_password_replaces_the_one_in_the_dsn() -> None:
    assert with_password("postgresql://u:old@h:5/d", "new") == "postgresql://u:new@h:5/d"
    with pytest.raises(ValueError, match="user name"):
        with_password("postgresql://h:5/d", "new")
