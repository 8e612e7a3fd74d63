"""`python -m bench.smtp_baseline PORT COUNT`: aiosmtplib alone, sending pre-built messages over
8 connections to a relay, as fast as it can. Prints the seconds it took."""

from __future__ import annotations

import asyncio
import sys
import time

import aiosmtplib

from connectmail.mail.compose import compose

CONNECTIONS = 8


def message(n: int) -> bytes:
    return compose(
        {
            "from": {"address": "bench@example.com", "name": "Bench Support"},
            "to": [{"address": f"baseline-{n}@example.org", "name": "Bench Customer"}],
            "cc": [],
            "subject": "Your order has shipped",
            "text": None,
            "html": "<p>Hello, your order <b>#1234</b> is on its way.</p>",
            "headers": [],
            "message_id": f"<baseline-{n}@example.com>",
            "in_reply_to": None,
            "references": [],
            "date": time.time(),
        }
    )


async def send_all(port: int, messages: list[tuple[str, bytes]]) -> None:
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in messages:
        queue.put_nowait(item)

    async def connection() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await client.connect()
        while not queue.empty():
            recipient, data = queue.get_nowait()
            await client.sendmail("bench@example.com", [recipient], data)
        await client.quit()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))


def main() -> None:
    port, count = int(sys.argv[1]), int(sys.argv[2])
    messages = [(f"baseline-{n}@example.org", message(n)) for n in range(count)]
    started = time.perf_counter()
    asyncio.run(send_all(port, messages))
    print(time.perf_counter() - started)


if __name__ == "__main__":
    main()
