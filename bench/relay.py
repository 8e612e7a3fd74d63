"""`python -m bench.relay PORT OUT`: an aiosmtpd relay in its own process that counts arrivals.

It prints the running count once a tenth of a second and, when terminated, writes every
arrival (time, first recipient, Message-ID) to OUT as JSON.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from email.parser import BytesHeaderParser
from typing import Any

from aiosmtpd.controller import Controller

arrivals: list[tuple[float, str, str]] = []
lock = threading.Lock()
parser = BytesHeaderParser()


class Handler:
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.time()
        headers = parser.parsebytes(envelope.original_content or b"")
        with lock:
            arrivals.append((now, envelope.rcpt_tos[0], str(headers.get("Message-ID", ""))))
        return "250 OK"


def main() -> None:
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, decode_data=False)
    controller.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print("ready", flush=True)
    while not done.wait(0.1):
        print(len(arrivals), flush=True)
    controller.stop()
    with open(out, "w") as handle:
        json.dump(arrivals, handle)


if __name__ == "__main__":
    main()
