"""Server-side AWS Signature Version 4: parse the Authorization header and check the signature.

The canonical request is rebuilt exactly as botocore and the JavaScript SDK build it (double
URI-encoded path, sorted query, signed headers, SHA-256 of the payload), so any conforming
client verifies and nothing else does.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import quote, unquote_to_bytes

from connectmail.errors import ServiceError

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_CLOCK_SKEW = timedelta(minutes=15)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+"
    r"Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed_headers>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})\s*$"
)
_REGION_RE = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*\Z")
MAX_REGION_LENGTH = 32
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class Credential:
    """What the Authorization header claims: the key, its scope and the signature."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


def missing_token() -> ServiceError:
    return ServiceError(
        "MissingAuthenticationTokenException", "Missing Authentication Token", status=403
    )


def incomplete_signature(message: str) -> ServiceError:
    return ServiceError("IncompleteSignatureException", message, status=403)


def invalid_signature(message: str) -> ServiceError:
    return ServiceError("InvalidSignatureException", message, status=403)


def parse_authorization(value: str | None) -> Credential:
    """Read the Authorization header; raise the 403 error AWS gives for each malformation."""
    if not value:
        raise missing_token()
    if not value.startswith(ALGORITHM):
        raise incomplete_signature("Authorization header requires the AWS4-HMAC-SHA256 algorithm.")
    match = _AUTH_RE.match(value)
    if match is None:
        raise incomplete_signature(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
            f"parameters. Authorization={value[:200]}"
        )
    parts = match["credential"].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise incomplete_signature(
            "Credential should be of the form AKID/DATE/REGION/SERVICE/aws4_request."
        )
    if len(parts[2]) > MAX_REGION_LENGTH or not _REGION_RE.match(parts[2]):
        # Any region works, but it goes into ARNs, so it must look like one.
        raise invalid_signature("Credential should be scoped to a valid region.")
    signed_headers = tuple(match["signed_headers"].split(";"))
    if "host" not in signed_headers:
        raise invalid_signature("'Host' must be a signed header.")
    return Credential(
        access_key_id=parts[0],
        date=parts[1],
        region=parts[2],
        service=parts[3],
        signed_headers=signed_headers,
        signature=match["signature"],
    )


def parse_amz_date(headers: dict[str, str]) -> datetime:
    raw = headers.get("x-amz-date")
    if raw is None:
        raise incomplete_signature(
            "Authorization header requires existence of a 'X-Amz-Date' header."
        )
    try:
        # YYYYMMDD'T'HHMMSS'Z' by slicing: strptime costs more than the rest of the header work
        if (
            len(raw) != 16
            or not raw.isascii()
            or raw[8] != "T"
            or raw[15] != "Z"
            or not raw[:8].isdigit()
            or not raw[9:15].isdigit()
        ):
            raise ValueError(raw)
        return datetime(
            int(raw[:4]),
            int(raw[4:6]),
            int(raw[6:8]),
            int(raw[9:11]),
            int(raw[11:13]),
            int(raw[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        raise incomplete_signature(
            f"Date must be in ISO-8601 'basic format'. Got '{raw[:40]}'."
        ) from None


def check_clock(credential: Credential, signed_at: datetime, now: datetime) -> None:
    day = f"{signed_at.year:04d}{signed_at.month:02d}{signed_at.day:02d}"  # cheaper than strftime
    if credential.date != day:
        raise invalid_signature(f"Credential should be scoped to a valid date: '{day}'.")
    if signed_at < now - MAX_CLOCK_SKEW:
        raise invalid_signature(
            f"Signature expired: {signed_at:{_STAMP}} is now earlier than "
            f"{now - MAX_CLOCK_SKEW:{_STAMP}} ({now:{_STAMP}} - 15 min.)"
        )
    if signed_at > now + MAX_CLOCK_SKEW:
        raise invalid_signature(
            f"Signature not yet current: {signed_at:{_STAMP}} is still later than "
            f"{now + MAX_CLOCK_SKEW:{_STAMP}} ({now:{_STAMP}} + 15 min.)"
        )


def canonical_uri(raw_path: str) -> str:
    """Remove dot segments and empty segments, then URI-encode once more, as the SDKs do."""
    segments: list[str] = []
    for segment in raw_path.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            if segments:
                segments.pop()
            continue
        segments.append(segment)
    path = "/" + "/".join(segments)
    if raw_path.endswith("/") and segments:
        path += "/"
    return quote(path, safe="/~")


def canonical_query(query_string: str) -> str:
    if not query_string:
        return ""
    pairs = []
    for pair in query_string.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        # Decoded to bytes, not text: a %FF that is no UTF-8 must come back as %FF.
        pairs.append(
            (
                quote(unquote_to_bytes(key), safe="-_.~"),
                quote(unquote_to_bytes(value), safe="-_.~"),
            )
        )
    pairs.sort()
    return "&".join(f"{k}={v}" for k, v in pairs)


def canonical_headers(signed: tuple[str, ...], headers: dict[str, str]) -> str:
    lines = []
    for name in signed:
        value = headers.get(name)
        if value is None:
            raise invalid_signature(f"Signed header '{name}' is missing from the request.")
        lines.append(f"{name}:{' '.join(value.split())}\n")
    return "".join(lines)


@lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def canonical_request(
    signed_headers: tuple[str, ...],
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: dict[str, str],
    payload_sha256: str,
) -> str:
    """The canonical request the client signed, rebuilt from what arrived."""
    return "\n".join(
        (
            method,
            canonical_uri(raw_path),
            canonical_query(query_string),
            canonical_headers(signed_headers, headers),
            ";".join(signed_headers),
            payload_sha256,
        )
    )


def verify(
    credential: Credential,
    secret: str,
    *,
    method: str,
    raw_path: str,
    query_string: str,
    headers: dict[str, str],
    payload_sha256: str,
    amz_date: str,
) -> None:
    """Raise InvalidSignatureException unless the signature matches the request."""
    claimed_payload = headers.get("x-amz-content-sha256")
    if claimed_payload is not None and claimed_payload != payload_sha256:
        raise invalid_signature(
            "The provided 'x-amz-content-sha256' header does not match what was computed."
        )
    canonical = canonical_request(
        credential.signed_headers,
        method=method,
        raw_path=raw_path,
        query_string=query_string,
        headers=headers,
        payload_sha256=payload_sha256,
    )
    scope = f"{credential.date}/{credential.region}/{credential.service}/aws4_request"
    string_to_sign = "\n".join(
        (ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest())
    )
    key = signing_key(secret, credential.date, credential.region, credential.service)
    expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, credential.signature):
        raise invalid_signature(
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. "
            "Consult the service documentation for details."
        )
