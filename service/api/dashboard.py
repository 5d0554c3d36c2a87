"""GET /dashboard: the sales leaders' page. Static files only; the page reads the report API with
the API key its user types in, so serving it needs no key and reveals no data."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from service.errors import NotFound

router = APIRouter(tags=["dashboard"], include_in_schema=False)

STATIC_DIR = Path(__file__).with_name("static")
# The only files served: a fixed list, so no request path ever reaches the file system.
ASSETS = {
    "dashboard.js": "text/javascript",
    "dashboard.css": "text/css",
    "chart.umd.js": "text/javascript",
}
HEADERS = {
    # Everything comes from this service: no CDN, no inline script, no framing.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/dashboard")
async def dashboard() -> FileResponse:
    return FileResponse(STATIC_DIR / "dashboard.html", media_type="text/html", headers=HEADERS)


@router.get("/dashboard/{asset}")
async def dashboard_asset(asset: str) -> FileResponse:
    media_type = ASSETS.get(asset)
    if media_type is None:
        raise NotFound(f"no dashboard file {asset[:64]!r}")
    return FileResponse(STATIC_DIR / asset, media_type=media_type, headers=HEADERS)
