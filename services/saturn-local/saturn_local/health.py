"""``GET /health`` (Saturn's shape) and ``GET /healthz`` (the project's, checks the DB)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from saturn_local.wire import iso

router = APIRouter()


@router.get("/health")
async def health() -> dict[str, Any]:
    return {"status": "ok", "timestamp": iso(datetime.now(UTC))}


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    try:
        await request.app.state.pool.fetchval("SELECT 1")
    except Exception:
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})
