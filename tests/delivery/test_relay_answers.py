"""What the relay transport makes of a relay's answers, against real relays on loopback: each
recipient keeps its own answer, trouble setting up a connection is the relay being
unavailable (retried, never a failure), every address gets one RCPT, and TLS is verified."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from connectmail.delivery.transports import Envelope as Mail
from connectmail.delivery.transports import Outcome, RelaySettings, SmtpRelayTransport
from tests.delivery.relays import GreetingSMTP, Relay, outgoing, password_relay, starttls_relay
from tests.delivery.test_durability import FAST_RETRIES, delivery_status, wait_for_status
from tests.support.connect import make_outpost
from tests.support.smtp import SinkHandler, SmtpSink

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def send(url: str, mail: Mail) -> Outcome:
    async def run() -> Outcome:
        transport = SmtpRelayTransport(RelaySettings.from_url(url, timeout=5), 2)
        try:
            return await transport.send(mail)
        finally:
            await transport.close()

    return asyncio.run(run())


MIXED = {"soft@example.org": "451 4.7.1 Try later", "hard@example.org": "550 5.1.1 Unknown"}


@pytest.mark.parametrize(
    ("data_reply", "for_the_accepted"),
    [("554 5.6.0 Content rejected", "failed"), ("451 4.3.0 Queue full", "retry")],
)
def test_data_refused_after_mixed_rcpt_answers_keeps_each_recipients_answer(
    data_reply: str, for_the_accepted: str
) -> None:
    relay = SmtpSink(refuse=MIXED, data_reply=data_reply).start()
    try:
        outcome = send(
            relay.url, outgoing("ok@example.org", "soft@example.org", "hard@example.org")
        )
    finally:
        relay.stop()
    assert outcome.delivered == []
    assert outcome.failed.pop("hard@example.org") == "550 5.1.1 Unknown"
    assert outcome.retry.pop("soft@example.org") == "451 4.7.1 Try later"
    assert getattr(outcome, for_the_accepted) == {"ok@example.org": data_reply}
    assert outcome.failed == {} or outcome.retry == {}


def test_a_421_at_rcpt_keeps_the_relays_answer() -> None:
    """A relay answering 421 closes the connection: that recipient and the ones after it
    wait for a retry, with the relay's own words."""
    relay = SmtpSink(refuse={"cc1@example.org": "421 4.3.2 Shutting down"}).start()
    try:
        outcome = send(relay.url, outgoing("to@example.org", "cc1@example.org", "cc2@example.org"))
    finally:
        relay.stop()
    assert outcome.retry == dict.fromkeys(
        ["to@example.org", "cc1@example.org", "cc2@example.org"], "421 4.3.2 Shutting down"
    )
    assert relay.received == []


def test_each_address_gets_one_rcpt_and_every_recipient_its_answer() -> None:
    """The same address as To and Cc, in another case, twice: one RCPT each (the domain
    compared without regard to case, the local part as given), and every recipient the
    message named has the answer its address got."""
    relay = SmtpSink(refuse={"soft@example.org": "451 4.7.1 Try later"}).start()
    named = [
        "a@example.org",
        "a@example.org",
        "a@EXAMPLE.ORG",
        "A@example.org",
        "b@example.org",
        "soft@example.org",
        "soft@Example.Org",
    ]
    try:
        outcome = send(relay.url, outgoing(*named))
        (received,) = relay.received
    finally:
        relay.stop()
    assert received.recipients == ["a@example.org", "A@example.org", "b@example.org"]
    assert outcome.delivered == named[:5]
    assert outcome.retry == dict.fromkeys(named[5:], "451 4.7.1 Try later")


class Rejecting(GreetingSMTP):
    greeting = "554 5.7.1 Client host rejected: Access denied"


def test_a_relay_refusing_the_greeting_is_unavailable_not_a_failure() -> None:
    relay = Relay(smtp=Rejecting).start()
    try:
        outcome = send(relay.url, outgoing())
    finally:
        relay.stop()
    assert outcome.failed == {}
    assert outcome.retry == {
        "customer@example.org": "relay unavailable: 554 5.7.1 Client host rejected: Access denied"
    }


def test_a_wrong_or_missing_password_is_retried_until_the_right_one() -> None:
    """A password being rotated (535 at AUTH), or none given to a relay that wants one (530
    at MAIL): retried, not failed. Once the password is right the same mail goes."""
    relay = password_relay("user", "new-pw").start()
    url = f"smtp://user:{{}}@127.0.0.1:{relay.port}?tls=none"
    try:
        wrong = send(url.format("old-pw"), outgoing())
        missing = send(f"smtp://127.0.0.1:{relay.port}?tls=none", outgoing())
        right = send(url.format("new-pw"), outgoing())
    finally:
        relay.stop()
    assert wrong.failed == missing.failed == {}
    (why,) = wrong.retry.values()
    assert why.startswith("relay unavailable: 535")
    (why,) = missing.retry.values()
    assert why.startswith("relay unavailable: 530")
    assert right.delivered == ["customer@example.org"]
    assert len(relay.received) == 1


class TlsNoted(SinkHandler):
    """A sink that notes whether each message came over TLS."""

    over_tls: list[bool]

    def __init__(self) -> None:
        super().__init__()
        self.over_tls = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.over_tls.append(session.ssl is not None)
        return await super().handle_DATA(server, session, envelope)


@pytest.mark.parametrize("tls", ["starttls", "auto"])
def test_relay_certificates_are_verified_and_ssl_cert_file_trusts_a_private_ca(
    tls: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relay with a certificate no public CA signed: refused (retried) until
    SSL_CERT_FILE names it; `auto` takes STARTTLS when offered, verified alike."""
    handler = TlsNoted()
    relay, certificate = starttls_relay(tmp_path, handler)
    relay.start()
    url = f"smtp://127.0.0.1:{relay.port}?tls={tls}"
    try:
        monkeypatch.delenv("SSL_CERT_FILE", raising=False)
        untrusted = send(url, outgoing())
        monkeypatch.setenv("SSL_CERT_FILE", str(certificate))
        trusted = send(url, outgoing())
    finally:
        relay.stop()
    (why,) = untrusted.retry.values()
    assert "CERTIFICATE_VERIFY_FAILED" in why
    assert trusted.delivered == ["customer@example.org"]
    assert handler.over_tls == [True]


def test_relay_errors_never_show_the_password() -> None:
    """A password with reserved characters not percent-encoded breaks the URL apart: the
    error says so without repeating any of it."""
    for url in (
        "smtp://u5er:s3cretpw#x@relay.example:587",
        "smtp://u5er:s3cret/pw@relay.example:587",
        "smtp://u5er:s3cret?pw@relay.example:587",
        "smtp://u5er:s3cretpw@relay.example:port",
        "smtp://u5er:s3cretpw@relay.example:587?tls=s3cretpw",
        "smtp://u5er:s3cretpw@:587",
        "http://u5er:s3cretpw@relay.example:587",
    ):
        with pytest.raises(ValueError) as raised:
            RelaySettings.from_url(url)
        assert "s3cret" not in str(raised.value), url
        assert "u5er" not in str(raised.value), url
    good = RelaySettings.from_url("smtp://us%40er:s3cret%23%2Fpw@relay.example:587")
    assert (good.username, good.password, good.port) == ("us@er", "s3cret#/pw", 587)


def test_mail_sent_during_a_password_rotation_waits_for_the_new_password(
    start_server: Any,
) -> None:
    """The relay's password changed before connectmail's: the mail waits (PENDING, the
    relay's answer in DeliveryError, a warning in the log naming neither the password nor
    the message's content) and goes once connectmail has the new one."""
    relay = password_relay("user", "new-pw").start()
    try:
        url = f"smtp://user:{{}}@127.0.0.1:{relay.port}?tls=none"
        server = start_server("--relay", url.format("old-pw"), env=FAST_RETRIES)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        outpost.send(contact_id, to="patient@example.org", body="the secret body")
        deadline = time.monotonic() + 10
        while "535" not in delivery_status(outpost, contact_id).get(
            "connectmail:DeliveryError", ""
        ):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        status = delivery_status(outpost, contact_id)
        assert status["connectmail:DeliveryStatus"] == "PENDING"
        assert status["connectmail:DeliveryError"].startswith(
            "patient@example.org: will retry: relay unavailable: 535"
        )
        warnings = [line for line in server.log().splitlines() if contact_id in line]
        assert warnings and all("will be retried" in line for line in warnings)
        assert "relay unavailable: 535" in warnings[0]
        assert not any("old-pw" in line or "secret body" in line for line in warnings)

        server.restart(["--relay", url.format("new-pw")])
        (received,) = relay.wait_for(1)
        assert received.recipients == ["patient@example.org"]
        outpost.client = server.client()
        wait_for_status(outpost, contact_id, "DELIVERED")
    finally:
        relay.stop()


def test_failed_and_given_up_recipients_are_logged(start_server: Any) -> None:
    relay = SmtpSink(
        refuse={"gone@example.org": "550 5.1.1 No such user", "busy@example.org": "451 4.3.0 Busy"}
    ).start()
    try:
        env = {**FAST_RETRIES, "CONNECTMAIL_GIVE_UP_AFTER_SECONDS": "1"}
        server = start_server("--relay", relay.url, env=env)
        outpost = make_outpost(server.client())
        contact_id = outpost.contact()
        cc = [{"EmailAddress": "gone@example.org"}, {"EmailAddress": "busy@example.org"}]
        outpost.send(
            contact_id, to="here@example.org", AdditionalRecipients={"CcEmailAddresses": cc}
        )
        wait_for_status(outpost, contact_id, "PARTIALLY_DELIVERED")
        lines = [line for line in server.log().splitlines() if contact_id in line]
        assert any("1 recipient(s) failed: 550 5.1.1 No such user" in line for line in lines)
        assert any("will be retried: 451 4.3.0 Busy" in line for line in lines)
        assert "1 recipient(s) failed, giving up: 451 4.3.0 Busy" in lines[-1]
        assert all("WARNING" in line for line in lines)
    finally:
        relay.stop()
