"""Inbound email: the SMTP server that turns received mail into contacts."""

from connectmail.inbound.smtp import InboundSmtpServer

__all__ = ["InboundSmtpServer"]
