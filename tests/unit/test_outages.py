"""Every service's API answers 503 with the dependency's name while it is down, never 500;
an error that is not an outage stays a 500 (and is logged)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from aiokafka.errors import KafkaConnectionError
from botocore.exceptions import EndpointConnectionError
from fastapi import FastAPI, Request

from batchpipe_common.api import create_app
from batchpipe_common.db import ConnectionLost, DeadlineExceeded


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield


async def _ready(request: Request) -> dict[str, bool]:
    return {"always": True}


RAISED: dict[str, Exception] = {
    "recovering": asyncpg.exceptions.CannotConnectNowError("the database system is in recovery"),
    "shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection"),
    "refused": ConnectionRefusedError(111, "Connection refused"),
    "lost": ConnectionLost("applying: the PostgreSQL connection was lost"),
    "deadline": DeadlineExceeded("applying took longer than 30 s"),
    "closed": asyncpg.exceptions.InterfaceError("connection is closed"),
    # taken from the pool between the dying server's FATAL and the socket's close
    "ended": asyncpg.InternalClientError(
        "cannot switch to state 12; another operation (2) is in progress"
    ),
    "kafka": KafkaConnectionError("no broker"),
    "s3": EndpointConnectionError(endpoint_url="http://127.0.0.1:1"),
    "bug": asyncpg.exceptions.UndefinedColumnError('column "x" does not exist'),
}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(title="t", description="t", lifespan=_lifespan, readiness=_ready)

    @app.get("/raise/{name}")
    async def raise_it(name: str) -> None:
        raise RAISED[name]

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize(
    ("name", "dependency"),
    [
        ("recovering", "PostgreSQL"),
        ("shutdown", "PostgreSQL"),
        ("refused", "a server"),
        ("lost", "PostgreSQL"),
        ("deadline", "PostgreSQL"),
        ("closed", "PostgreSQL"),
        ("ended", "PostgreSQL"),
        ("kafka", "Kafka"),
        ("s3", "S3"),
    ],
)
async def test_an_outage_is_a_503_naming_the_dependency(
    client: httpx.AsyncClient, name: str, dependency: str
) -> None:
    response = await client.get(f"/raise/{name}")
    assert response.status_code == 503, response.text
    assert response.json()["detail"].startswith(f"{dependency} is unavailable"), response.text
    assert response.headers["retry-after"] == "5"


async def test_an_error_that_is_no_outage_stays_a_500(client: httpx.AsyncClient) -> None:
    response = await client.get("/raise/bug")
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
