"""`python -m bench.bare_asgi PORT`: the ceiling of the HTTP stack on this machine.

The same uvicorn, uvloop and httptools as connectmail, an app that reads the body and answers
a small JSON document, and nothing else.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

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


if __name__ == "__main__":
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    uvicorn.run(
        "bench.bare_asgi:app" if workers > 1 else app,  # uvicorn's workers import it by name
        host="127.0.0.1",
        port=int(sys.argv[1]),
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        workers=workers,
    )
