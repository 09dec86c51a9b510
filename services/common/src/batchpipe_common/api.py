"""FastAPI pieces every service shares: health, readiness, Prometheus metrics, bearer auth.

A service builds its app with ``create_app`` and passes a readiness probe; its own routers
add the mutating endpoints, protected by the ``RequireToken`` dependency.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, SecretStr

from batchpipe_common import __version__

ReadinessProbe = Callable[[Request], Awaitable[dict[str, bool]]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

_bearer = HTTPBearer(auto_error=False)


class Health(BaseModel):
    status: str
    version: str


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, bool]


class ErrorBody(BaseModel):
    detail: str


def check_token(
    expected: SecretStr | None, credentials: HTTPAuthorizationCredentials | None
) -> None:
    """401 unless ``expected`` is unset or the bearer token matches (constant time)."""
    if expected is None:
        return
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(
        credentials.credentials.encode(), expected.get_secret_value().encode()
    ):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "invalid bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )


async def require_token(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    check_token(request.app.state.settings.api_token, credentials)


RequireToken = Depends(require_token)
AUTH_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or invalid bearer token"}
}


def create_app(
    *,
    title: str,
    description: str,
    lifespan: Lifespan,
    readiness: ReadinessProbe,
) -> FastAPI:
    app = FastAPI(title=title, description=description, version=__version__, lifespan=lifespan)

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Alive: the process answers, with batchpipe's version."""
        return Health(status="ok", version=__version__)

    @app.get(
        "/readyz",
        response_model=Readiness,
        tags=["health"],
        responses={503: {"model": Readiness, "description": "a dependency is unreachable"}},
    )
    async def readyz(request: Request) -> Any:
        """Ready: every server this service needs answers."""
        checks = await readiness(request)
        body = Readiness(ready=all(checks.values()), checks=checks)
        code = status.HTTP_200_OK if body.ready else status.HTTP_503_SERVICE_UNAVAILABLE
        return JSONResponse(body.model_dump(), status_code=code)

    @app.get("/metrics", tags=["health"], response_class=Response)
    async def metrics() -> Response:
        """Prometheus metrics in the text exposition format."""
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return app


async def noop_lifespan(app: FastAPI) -> AsyncIterator[None]:  # pragma: no cover - helper
    yield
