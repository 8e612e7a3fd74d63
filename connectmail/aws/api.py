"""The AWS API as an ASGI application: authenticate, route, parse, guard, handle, serialize.

It knows services only as botocore models plus a mapping of operation names to handlers, so
every operation of every service goes through exactly the same code.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl

from connectmail.aws import sigv4
from connectmail.aws.model import ServiceModel
from connectmail.aws.restjson import Response, RestJsonProtocol, error_response
from connectmail.aws.routing import Router
from connectmail.errors import ServiceError

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Principal:
    """Who signed a request: an account's access key, and the policy that limits it (if any)."""

    account_id: str
    access_key_id: str
    secret_access_key: str
    policy: Any = None


class KeyStore(Protocol):
    async def principal(self, access_key_id: str) -> Principal | None: ...


@dataclass(frozen=True)
class RequestContext:
    """What a handler knows of the request besides its parameters."""

    service: str
    operation: str
    region: str
    request_id: str
    principal: Principal
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # The Host the client called, for URLs that point back at this server (presigned URLs).
    host: str = ""
    # The error for a client token reused with another request, as the operation models it.
    idempotency_conflict: str = "IdempotencyException"

    @property
    def account_id(self) -> str:
        return self.principal.account_id


Handler = Callable[[RequestContext, dict[str, Any]], Awaitable[dict[str, Any]]]
Guard = Callable[[RequestContext, dict[str, Any]], Awaitable[None]]


@dataclass
class Service:
    """A service model and the handlers that implement its operations."""

    model: ServiceModel
    handlers: Mapping[str, Handler]


class Identified(NamedTuple):
    """Who signed a request, known from its headers alone: the key is ours and the clock
    agrees. The signature itself covers the body, so it is checked once the body is read.
    (A tuple: made on every request, and cheaper to make than a frozen dataclass.)"""

    credential: sigv4.Credential
    service: Service
    principal: Principal
    presigned: sigv4.Presigned | None = None


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    """The client went away before its request was whole: there is nothing to answer."""


async def read_body(receive: Receive, limit: int, declared: int | None) -> bytes:
    """Read the request body, refusing it as soon as it is known to exceed `limit` bytes."""
    if declared is not None and declared > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _internal_error(model: ServiceModel | None) -> ServiceError:
    """An unexpected failure, in the error the service's model has for it."""
    code = "InternalServiceException"
    if model is not None and model.error(code) is None:
        code = "InternalServerException"
    return ServiceError(code, "An internal error occurred.", status=500)


def header_map(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    return headers


async def send_response(send: Send, response: Response) -> None:
    headers = [*response.headers, (b"content-length", str(len(response.body)).encode())]
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


class AwsApi:
    """Serves the operations of several AWS services from one endpoint."""

    def __init__(
        self,
        services: Sequence[Service],
        keys: KeyStore,
        *,
        guards: Sequence[Guard] = (),
        max_body_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._services = {s.model.signing_name: s for s in services}
        self._protocols = {s.model.signing_name: RestJsonProtocol(s.model) for s in services}
        self._router = Router([s.model for s in services])
        self._keys = keys
        self._guards = tuple(guards)
        self._max_body = max_body_bytes
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope["headers"])
        declared = headers.get("content-length")
        request_id = str(uuid.uuid4())
        length = int(declared) if declared and declared.isascii() and declared.isdigit() else None
        if length is not None and length > self._max_body:
            await self._refuse_unread(send, None, self._too_large(), request_id)
            return
        # A key that is not ours is refused before the body is read (or, with `Expect:
        # 100-continue`, asked for): a client without a key makes the server hold nothing.
        query_string = scope.get("query_string", b"").decode("latin-1")
        model, identified = await self.identify(headers, query_string)
        if isinstance(identified, ServiceError):
            if length == 0 or (length is None and "transfer-encoding" not in headers):
                await send_response(send, error_response(model, identified, request_id))
            else:
                await self._refuse_unread(send, model, identified, request_id)
            return
        try:
            body = await read_body(receive, self._max_body, length)
        except BodyTooLarge:
            await self._refuse_unread(send, None, self._too_large(), request_id)
            return
        except ClientGone:
            return  # a truncated request must not run
        raw_path = scope.get("raw_path") or scope["path"].encode()
        response = await self.handle(
            scope["method"],
            raw_path.decode("latin-1").split("?", 1)[0],
            query_string,
            headers,
            body,
            request_id,
            identified,
        )
        await send_response(send, response)

    async def handle(
        self,
        method: str,
        raw_path: str,
        query_string: str,
        headers: dict[str, str],
        body: bytes,
        request_id: str,
        identified: Identified | None = None,
    ) -> Response:
        model: ServiceModel | None = None
        try:
            if identified is None:
                model, found = await self.identify(headers, query_string)
                if isinstance(found, ServiceError):
                    raise found
                identified = found
            credential, service, principal, presigned = identified
            model = service.model
            sigv4.verify(
                credential,
                principal.secret_access_key,
                method=method,
                raw_path=raw_path,
                query_string=query_string if presigned is None else presigned.signed_query,
                headers=headers,
                payload_sha256=hashlib.sha256(body).hexdigest(),
                amz_date=headers["x-amz-date"] if presigned is None else presigned.amz_date,
            )
            query: dict[str, list[str]] = {}
            for key, value in parse_qsl(query_string, keep_blank_values=True):
                query.setdefault(key, []).append(value)
            if presigned is not None:  # the signature's parameters are not the operation's
                for key in sigv4.QUERY_AUTH_PARAMETERS:
                    query.pop(key, None)
            match = self._router.match(method, raw_path, query, credential.service)
            if match is None:
                raise ServiceError(
                    "UnknownOperationException",
                    f"No operation matches {method} {raw_path}.",
                    status=404,
                )
            operation = match.operation
            handler = service.handlers.get(operation.name)
            if handler is None:
                raise ServiceError(
                    "UnknownOperationException",
                    f"connectmail does not implement {model.name} {operation.name}.",
                    status=400,
                )
            protocol = self._protocols[credential.service]
            params = protocol.parse(operation, match.uri_params, query, headers, body)
            context = RequestContext(
                service=model.name,
                operation=operation.name,
                region=credential.region,
                request_id=request_id,
                principal=principal,
                host=headers.get("host", ""),
                idempotency_conflict=operation.idempotency_conflict,
            )
            for guard in self._guards:
                await guard(context, params)
            output = await handler(context, params)
            response = protocol.serialize(operation, output)
            response.headers.append((b"x-amzn-requestid", request_id.encode()))
            return response
        except ServiceError as error:
            return error_response(model, error, request_id)
        except Exception:
            log.exception("unhandled error in request %s %s", method, raw_path)
            return error_response(model, _internal_error(model), request_id)

    def _too_large(self) -> ServiceError:
        return ServiceError(
            "RequestEntityTooLargeException",
            f"Request body exceeds {self._max_body} bytes.",
            status=413,
        )

    @staticmethod
    async def _refuse_unread(
        send: Send, model: ServiceModel | None, error: ServiceError, request_id: str
    ) -> None:
        """Answer without reading the rest of the body: the connection ends with the answer."""
        response = error_response(model, error, request_id)
        response.headers.append((b"connection", b"close"))
        await send_response(send, response)

    async def identify(
        self, headers: dict[str, str], query_string: str = ""
    ) -> tuple[ServiceModel | None, Identified | ServiceError]:
        """The request's signer from its headers (or, for a presigned URL, its query string),
        or the error that refuses it (with the model of its service, when known, for the
        error's shape)."""
        model: ServiceModel | None = None
        try:
            authorization = headers.get("authorization")
            presigned = None
            if authorization is None and sigv4.is_presigned(query_string):
                presigned = sigv4.parse_presigned(query_string)
                credential = presigned.credential
            else:
                credential = sigv4.parse_authorization(authorization)
            service = self._services.get(credential.service)
            if service is None:
                raise sigv4.invalid_signature(
                    f"Credential should be scoped to correct service: "
                    f"'{'/'.join(sorted(self._services))}'."
                )
            model = service.model
            signed_at = sigv4.parse_amz_date(headers) if presigned is None else presigned.signed_at
            principal = await self._keys.principal(credential.access_key_id)
            # connectmail issues no temporary credentials, so a session token is none of its
            # own: AWS refuses one it did not issue with this error, and so must a request here.
            if (
                principal is None
                or "x-amz-security-token" in headers
                or (presigned is not None and presigned.has_session_token)
            ):
                raise ServiceError(
                    "UnrecognizedClientException",
                    "The security token included in the request is invalid.",
                    status=403,
                )
            if presigned is None:
                sigv4.check_clock(credential, signed_at, self._clock())
            else:
                sigv4.check_presigned_clock(presigned, self._clock())
            return model, Identified(credential, service, principal, presigned)
        except ServiceError as error:
            return model, error
        except Exception:  # the key's lookup failed: answered as any unexpected failure is
            log.exception("identifying a request failed")
            return model, _internal_error(model)
