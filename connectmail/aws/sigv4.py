"""Server-side AWS Signature Version 4: parse the Authorization header (or a presigned URL's
X-Amz-* query parameters) and check the signature.

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
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, unquote, unquote_to_bytes

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
# A presigned URL lives at most 7 days, as in every AWS service that takes them.
MAX_PRESIGNED_EXPIRES = 7 * 24 * 3600
PRESIGNED_PARAMETERS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-SignedHeaders",
    "X-Amz-Date",
)
# Every parameter of a presigned URL's signature: none of them is the operation's.
QUERY_AUTH_PARAMETERS = (*PRESIGNED_PARAMETERS, "X-Amz-Expires", "X-Amz-Security-Token")


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
    return _credential(match["credential"], match["signed_headers"], match["signature"])


def _credential(scope: str, signed_headers: str, signature: str) -> Credential:
    parts = scope.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not all(parts):
        raise incomplete_signature(
            "Credential should be of the form AKID/DATE/REGION/SERVICE/aws4_request."
        )
    if len(parts[2]) > MAX_REGION_LENGTH or not _REGION_RE.match(parts[2]):
        # Any region works, but it goes into ARNs, so it must look like one.
        raise invalid_signature("Credential should be scoped to a valid region.")
    names = tuple(signed_headers.split(";"))
    if "host" not in names:
        raise invalid_signature("'Host' must be a signed header.")
    return Credential(
        access_key_id=parts[0],
        date=parts[1],
        region=parts[2],
        service=parts[3],
        signed_headers=names,
        signature=signature,
    )


class Presigned(NamedTuple):
    """A request signed in its query string (a presigned URL) rather than its headers."""

    credential: Credential
    amz_date: str
    signed_at: datetime
    expires: int | None
    # The query the signature covers: all of it but X-Amz-Signature.
    signed_query: str
    has_session_token: bool


def is_presigned(query_string: str) -> bool:
    return "X-Amz-Algorithm=" in query_string


def parse_presigned(query_string: str) -> Presigned:
    """Read a presigned URL's X-Amz-* parameters; raise the 403 AWS gives for each fault."""
    params: dict[str, str] = {}
    for key, value in parse_qsl(query_string, keep_blank_values=True):
        if key.startswith("X-Amz-"):
            params.setdefault(key, value)
    missing = [name for name in PRESIGNED_PARAMETERS if not params.get(name)]
    if missing:
        names = ", ".join(f"'{name}'" for name in PRESIGNED_PARAMETERS)
        raise incomplete_signature(
            f"AWS query-string parameters must include {names}. "
            "Re-examine the query-string parameters."
        )
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise incomplete_signature("X-Amz-Algorithm only supports 'AWS4-HMAC-SHA256'.")
    signature = params["X-Amz-Signature"]
    if len(signature) != 64 or any(c not in "0123456789abcdef" for c in signature):
        raise incomplete_signature("X-Amz-Signature must be 64 lowercase hexadecimal digits.")
    expires: int | None = None
    if "X-Amz-Expires" in params:
        raw = params["X-Amz-Expires"]
        if not (raw.isascii() and raw.isdigit() and 0 < int(raw) <= MAX_PRESIGNED_EXPIRES):
            raise incomplete_signature(
                f"X-Amz-Expires must be a whole number of seconds from 1 to "
                f"{MAX_PRESIGNED_EXPIRES}. Got '{raw[:40]}'."
            )
        expires = int(raw)
    amz_date = params["X-Amz-Date"]
    signed_query = "&".join(
        pair
        for pair in query_string.split("&")
        if unquote(pair.partition("=")[0]) != "X-Amz-Signature"
    )
    return Presigned(
        _credential(params["X-Amz-Credential"], params["X-Amz-SignedHeaders"], signature),
        amz_date,
        parse_amz_date({"x-amz-date": amz_date}),
        expires,
        signed_query,
        "X-Amz-Security-Token" in params,
    )


def check_presigned_clock(presigned: Presigned, now: datetime) -> None:
    """A presigned URL is good from its date (give or take the skew) until it expires."""
    if presigned.expires is None:
        check_clock(presigned.credential, presigned.signed_at, now)
        return
    check_scope_date(presigned.credential, presigned.signed_at)
    expiry = presigned.signed_at + timedelta(seconds=presigned.expires)
    if now > expiry:
        raise invalid_signature(
            f"Signature expired: {expiry:{_STAMP}} is now earlier than {now:{_STAMP}} "
            f"(X-Amz-Date {presigned.amz_date} + X-Amz-Expires {presigned.expires} s)."
        )
    check_not_ahead(presigned.signed_at, now)


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


def check_scope_date(credential: Credential, signed_at: datetime) -> None:
    day = f"{signed_at.year:04d}{signed_at.month:02d}{signed_at.day:02d}"  # cheaper than strftime
    if credential.date != day:
        raise invalid_signature(f"Credential should be scoped to a valid date: '{day}'.")


def check_clock(credential: Credential, signed_at: datetime, now: datetime) -> None:
    check_scope_date(credential, signed_at)
    if signed_at < now - MAX_CLOCK_SKEW:
        raise invalid_signature(
            f"Signature expired: {signed_at:{_STAMP}} is now earlier than "
            f"{now - MAX_CLOCK_SKEW:{_STAMP}} ({now:{_STAMP}} - 15 min.)"
        )
    check_not_ahead(signed_at, now)


def check_not_ahead(signed_at: datetime, now: datetime) -> None:
    """A signature dated more than the allowed skew after `now` is refused."""
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
