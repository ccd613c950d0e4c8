"""A live, read-only dashboard for the line: ``flashcheck dashboard``.

A Starlette application (served by uvicorn) with one page and one JSON
endpoint over the station results store:

- ``GET /`` the page (``static/index.html``; its script and style sheet are
  served from ``/static/``: no CDN, works without internet);
- ``GET /api/summary?since=24h&last=25`` the figures (see :mod:`.view`),
  read from the database on each call (incrementally, see :mod:`.reader`);
  the page polls it every few seconds, so it updates while stations write;
  ``503`` with ``{"error": ...}`` while the database cannot be read.

Nothing here writes: only GET is routed, and the database is opened
read-only.  Starlette and uvicorn are imported only by this command.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

STATIC = Path(__file__).parent / "static"
POLL_S = 2.0
CACHE_S = 5.0
MAX_LAST = 500

_HEADERS = {
    # Scripts and styles from this server only: a reason or serial number
    # stored in the database can never run as code in the page.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def create_app(reader, *, poll_s: float = POLL_S, clock=None):
    """The ASGI application over a :class:`.reader.ReadOnlyResults`."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.middleware import Middleware
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from flashcheck.errors import FlashcheckError
    from flashcheck.output.dashboard.view import view

    now = clock or (lambda: datetime.now(timezone.utc))

    cache: dict[tuple, tuple[float, dict]] = {}

    def _compute(since: datetime | None, last: int, key: tuple) -> dict:
        """The figures; the same answer again for CACHE_S while the records
        have not changed (every screen on the line polls)."""
        import time

        reader.refresh()
        key = (reader.version, *key)
        hit = cache.get(key)
        if hit and time.monotonic() - hit[0] < CACHE_S:
            return hit[1]
        body = view(reader.records(), now=now(), since=since, last=last)
        cache.clear()
        cache[key] = (time.monotonic(), body)
        return body

    async def summary(request):
        try:
            since, last = _params(request, now())
        except FlashcheckError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            body = dict(await run_in_threadpool(_compute, since, last, (request.query_params.get("since"), last)))
        except FlashcheckError as exc:  # the database went away: say so, keep serving
            return JSONResponse({"error": str(exc), "database": reader.shown_url}, status_code=503)
        body.update(database=reader.shown_url, poll_s=poll_s)
        return JSONResponse(body)

    async def page(_request):
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    return Starlette(
        routes=[Route("/", page, methods=["GET"]), Route("/api/summary", summary, methods=["GET"]),
                Mount("/static", StaticFiles(directory=STATIC), name="static")],
        middleware=[Middleware(_Headers)],
    )


def _params(request, now: datetime) -> tuple[datetime | None, int]:
    """?since= (all, 24h, an ISO date ...) and ?last= (boards listed)."""
    from flashcheck.errors import InputError
    from flashcheck.output.report import parse_since

    since_text = request.query_params.get("since", "").strip()
    since = parse_since(since_text, now) if since_text and since_text != "all" else None
    try:
        last = int(request.query_params.get("last", "25"))
    except ValueError:
        raise InputError("last: expected a number of boards") from None
    return since, max(0, min(last, MAX_LAST))


class _Headers:
    """Adds :data:`_HEADERS` to every response (pure ASGI middleware)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                have = {k.lower() for k, _ in headers}
                headers += [(k.lower().encode(), v.encode()) for k, v in _HEADERS.items()
                            if k.lower().encode() not in have]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, send_with_headers)
