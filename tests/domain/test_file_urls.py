"""Signed file URLs: what a token grants, and that nothing else passes."""

from __future__ import annotations

import pytest

from connectmail.domain.file_urls import GET, PUT, FileGrant, InvalidFileUrl, UrlSigner


def test_a_token_grants_what_was_signed_until_it_expires() -> None:
    signer = UrlSigner(b"k" * 32)
    grant = FileGrant("111122223333", "file-1", GET, expires_at=1000, disposition="INLINE")
    token = signer.sign(grant)
    assert signer.verify(token, GET, now=1000) == grant
    with pytest.raises(InvalidFileUrl, match="expired"):
        signer.verify(token, GET, now=1001)
    with pytest.raises(InvalidFileUrl, match="does not allow"):
        signer.verify(token, PUT, now=0)


def test_tokens_do_not_travel_between_keys_or_survive_edits() -> None:
    token = UrlSigner(b"a" * 32).sign(FileGrant("111122223333", "f", GET, expires_at=10))
    with pytest.raises(InvalidFileUrl):
        UrlSigner(b"b" * 32).verify(token, GET, now=0)
    payload, signature = token.split(".")
    for bent in (payload[:-1] + "x." + signature, payload + ".", "", "..", token + "x"):
        with pytest.raises(InvalidFileUrl):
            UrlSigner(b"a" * 32).verify(bent, GET, now=0)
