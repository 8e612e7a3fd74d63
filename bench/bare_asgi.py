"""`python -m bench.bare_asgi PORT [WORKERS] [asgi|starlette]`: the ceiling of the HTTP stack
on this machine.

The same uvicorn, uvloop and httptools as connectmail, an app that reads the body and answers
a small JSON document, and nothing else: as a bare ASGI callable (the ceiling), or as a
Starlette route (the endpoint the issue's figures were taken with; a framework's routing,
request and response objects on top).
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"ContactId":"00000000-0000-0000-0000-000000000000"}'
HEADERS = [(b"content-type", b"application/json")]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


async def _answer(request: Request) -> Response:
    await request.body()
    return Response(BODY, media_type="application/json")


starlette_app = Starlette(routes=[Route("/{path:path}", _answer, methods=["POST", "PUT"])])

APPS = {"asgi": "app", "starlette": "starlette_app"}

if __name__ == "__main__":
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    name = APPS[sys.argv[3] if len(sys.argv) > 3 else "asgi"]
    uvicorn.run(
        f"bench.bare_asgi:{name}" if workers > 1 else globals()[name],  # workers import by name
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=workers,
    )
