"""The relay transport's connection pool against a real SMTP server that caps connections."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from connectmail.delivery.transports import (
    ComposeFailed,
    Outcome,
    RelaySettings,
    SmtpRelayTransport,
)
from tests.delivery.relays import outgoing
from tests.support.smtp import SmtpSink


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def send_all(transport: SmtpRelayTransport, count: int) -> list[Outcome]:
    return list(await asyncio.gather(*(transport.send(outgoing()) for _ in range(count))))


def transport_for(sink: SmtpSink, connections: int, clock: Clock) -> SmtpRelayTransport:
    settings = RelaySettings.from_url(sink.url, timeout=10)
    return SmtpRelayTransport(settings, connections, regrow_after=60, clock=clock)


def test_the_pool_shrinks_to_the_relay_cap_and_tries_one_more_a_minute_later() -> None:
    sink = SmtpSink(data_delay=0.2, max_connections=2).start()
    clock = Clock()
    transport = transport_for(sink, 6, clock)

    async def rounds() -> None:
        first = await send_all(transport, 8)
        assert all(o.delivered == ["customer@example.org"] for o in first)
        assert len({r.peer for r in sink.received}) == 2
        assert sink.handler.turned_away > 0

        sink.handler.max_connections = 3  # the relay now allows one more
        turned_away = sink.handler.turned_away
        clock.now += 30  # too soon to try it
        await send_all(transport, 8)
        assert len({r.peer for r in sink.received}) == 2
        assert sink.handler.turned_away == turned_away

        clock.now += 31  # a minute since the relay last turned a connection away
        await send_all(transport, 8)
        assert len({r.peer for r in sink.received}) == 3
        assert len(sink.received) == 24
        await transport.close()

    try:
        asyncio.run(rounds())
    finally:
        sink.stop()


def test_a_relay_that_turns_every_connection_away_gets_the_mail_retried() -> None:
    sink = SmtpSink(max_connections=0).start()
    transport = transport_for(sink, 4, Clock())
    try:
        outcomes = asyncio.run(send_all(transport, 6))
        assert [o.retry for o in outcomes] == [
            {
                "customer@example.org": (
                    "relay unavailable: 421 4.7.0 Error: too many connections from 127.0.0.1"
                )
            }
        ] * 6
        assert sink.received == []
    finally:
        sink.stop()


def test_a_message_is_composed_once_a_connection_is_held_and_a_failure_gives_it_back() -> None:
    """The relay transport composes a message when it holds a connection for it (see
    `Envelope.data`); a message that cannot be composed raises ComposeFailed and leaves the
    connection to the next, on the same single connection."""
    sink = SmtpSink(data_delay=0.2).start()
    transport = transport_for(sink, 1, Clock())
    composed_while: list[int] = []

    def composer() -> bytes:
        composed_while.append(len(sink.received))
        return b"Subject: Hello\r\n\r\nHello there\r\n"

    def broken() -> bytes:
        raise ValueError("cannot compose")

    async def run() -> list[Any]:
        first = replace(outgoing(), composer=composer)
        second = replace(outgoing(), composer=composer)
        sends = [transport.send(first), transport.send(replace(outgoing(), composer=broken))]
        outcomes = await asyncio.gather(*sends, transport.send(second), return_exceptions=True)
        await transport.close()
        return outcomes

    try:
        first, failed, second = asyncio.run(asyncio.wait_for(run(), 20))
        assert first.delivered == second.delivered == ["customer@example.org"]
        assert isinstance(failed, ComposeFailed)
        assert str(failed) == "ValueError: cannot compose"
        # One connection: the second was composed only once the first had been delivered.
        assert composed_while == [0, 1]
        assert len(sink.received) == 2
    finally:
        sink.stop()
