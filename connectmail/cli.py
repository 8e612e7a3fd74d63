"""The `connectmail` command: serve the API, print credentials."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from connectmail.access.policy import PolicyError, parse_policy
from connectmail.config import Settings
from connectmail.domain import accounts
from connectmail.sockets import bind
from connectmail.store.database import UnknownRevision, sqlite_file

# The server's modules (the API and its models, delivery, inbound SMTP, uvicorn) are imported
# by the commands that run them: `accounts create`, `keys create` and `credentials` have no
# use for them, and importing them was a third of each such command's time.
if TYPE_CHECKING:
    from connectmail.store.store import Store

app = typer.Typer(
    help="Amazon Connect's email channel, self-hosted.", no_args_is_help=True, add_completion=False
)
console = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Where state is kept.")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="sqlite:///path or postgresql://user@host/db (default: SQLite in the data dir).",
    ),
]
Relay = Annotated[
    str | None,
    typer.Option(
        "--relay",
        help=r"smtp://\[user:pass@]host:port\[?tls=starttls|implicit|none]; "
        "without it mail is captured in the mailbox.",
    ),
]


# Settings whose command-line option is not named after the setting.
OPTIONS = {"delivery_poll_seconds": "--poll-seconds"}


def _settings(**overrides: object) -> Settings:
    """The settings from the options given and `CONNECTMAIL_*`; a bad value ends the command
    (exit 2, as for a bad option) with a line naming it, before anything is written."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        for error in exc.errors():
            reason = str(error["msg"]).removeprefix("Value error, ")
            if not error["loc"]:  # a rule over several settings: its message names them
                console.print(f"Invalid settings: {reason}", markup=False, soft_wrap=True)
                continue
            name = str(error["loc"][0])
            where = f"CONNECTMAIL_{name.upper()}"
            if name in overrides:  # the command has an option for it
                where = f"{OPTIONS.get(name, '--' + name.replace('_', '-'))} or {where}"
            console.print(f"Invalid {name} ({where}): {reason}", markup=False, soft_wrap=True)
        raise typer.Exit(2) from None


@contextlib.contextmanager
def _starting(what: str) -> Iterator[None]:
    """Failures to start (a database that cannot be reached, a data directory that cannot be
    written, a port that cannot be had) as one line and exit 1, not a traceback."""
    try:
        yield
    except (OSError, SQLAlchemyError, UnknownRevision) as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        console.print(f"{what}: {reason}", markup=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _require_database(settings: Settings) -> None:
    """Commands that work on a server's database refuse a SQLite file that is not there: a
    mistyped --data-dir would otherwise get a new, empty database of its own."""
    path = sqlite_file(settings.resolved_database_url)
    if settings.resolved_database_url.startswith("sqlite") and path and not Path(path).exists():
        console.print(
            f"No database at {path}: start the server once first, or give the --data-dir or "
            "--database-url it uses.",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)


def _check_stored_credentials(settings: Settings) -> None:
    """A credentials file that cannot be read (cut short by a full disk, edited by hand) as one
    line and exit 1, not a traceback; the secret it may hold is not repeated."""
    path = settings.data_dir / accounts.CREDENTIALS_FILE
    if settings.configured_credentials is not None or not path.is_file():
        return
    try:
        accounts.root_credentials(settings.data_dir, None)
    except (ValueError, KeyError, TypeError) as exc:
        reason = "not a JSON object"
        if isinstance(exc, KeyError):
            reason = f"no {exc}"
        elif isinstance(exc, orjson.JSONDecodeError):
            reason = f"not JSON ({exc})"
        console.print(
            f"Cannot read the root credentials in {path}: {reason}; it holds account_id, "
            "access_key_id and secret_access_key as a JSON object.",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port (0 picks a free one).")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    relay: Relay = None,
    deliver: Annotated[
        bool | None,
        typer.Option("--deliver/--no-deliver", help="Run the delivery worker in this process."),
    ] = None,
    limits: Annotated[
        str | None,
        typer.Option(help="Throttling: unlimited (the default) or aws (Amazon Connect's rates)."),
    ] = None,
    smtp_port: Annotated[
        int | None,
        typer.Option(help="Receive inbound email over SMTP on this port (0 picks a free one)."),
    ] = None,
    smtp_host: Annotated[
        str | None, typer.Option(help="Address the SMTP server listens on (default: --host).")
    ] = None,
    max_inbound_message_bytes: Annotated[
        int | None,
        typer.Option(help="Largest inbound message accepted over SMTP (default 10 MiB)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(help="API processes sharing the port and the database (default 1)."),
    ] = None,
) -> None:
    """Serve the Amazon Connect API (and Q in Connect templates) over HTTP."""
    settings = _settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        relay=relay,
        deliver=deliver,
        limits=limits,
        smtp_port=smtp_port,
        smtp_host=smtp_host,
        max_inbound_message_bytes=max_inbound_message_bytes,
        workers=workers,
    )
    if settings.smtp_host is not None and settings.smtp_port is None:
        # It was ignored: no SMTP server starts without a port, and nothing said so.
        console.print(
            "Invalid smtp_host (--smtp-host or CONNECTMAIL_SMTP_HOST): inbound SMTP starts only "
            "with --smtp-port or CONNECTMAIL_SMTP_PORT (0 picks a free port).",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(2)
    from connectmail.workers import AppServer, hold_sigterm

    held = hold_sigterm()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    _check_stored_credentials(settings)
    if settings.workers > 1:
        _serve_workers(settings, held)
        return
    from connectmail.inbound.smtp import describe_address
    from connectmail.server import build_application

    with _starting(f"Cannot listen on {settings.host}:{settings.port}"):
        sock = bind(settings.host, settings.port)
    _check_smtp_port(settings)
    with _starting("Cannot start"):
        application = build_application(settings)
    smtp = describe_address(application.inbound) if application.inbound is not None else None
    server = AppServer(application, settings, held=held)
    withdraw = _announce(settings, sock, application.root, application.root_generated, smtp)
    try:
        server.run(sockets=[sock])
    finally:
        withdraw()


def _serve_workers(settings: Settings, held: threading.Event) -> None:
    """Several processes on one port, each building its app from the settings passed down."""
    from connectmail.server import prepare
    from connectmail.workers import Supervisor

    with _starting(f"Cannot listen on {settings.host}:{settings.port}"):
        reserved = _reserve(settings.host, settings.port)
    # The workers must agree on one SMTP port: for 0, the one the check found free.
    settings.smtp_port = _check_smtp_port(settings)
    with _starting("Cannot start"):
        root, generated = prepare(settings)
    smtp = None
    if settings.smtp_port is not None:
        smtp = f"{settings.smtp_host or settings.host}:{settings.smtp_port}"
    supervisor = Supervisor(settings, reserved.getsockname()[1], held)
    withdraw = _announce(settings, reserved, root, generated, smtp)
    try:
        code = supervisor.run()
    finally:
        withdraw()
    reserved.close()
    if code:
        raise typer.Exit(code)


def _check_smtp_port(settings: Settings) -> int | None:
    """Refuse an inbound SMTP port something listens on, or an address not this machine's, in
    one line naming it, before the database is touched; with workers, each would otherwise die
    of it with a traceback. The port found free: the one given, or for 0 one picked."""
    if settings.smtp_port is None:
        return None
    host = settings.smtp_host or settings.host
    with _starting(f"Cannot listen for SMTP on {host}:{settings.smtp_port}"):
        probe = bind(host, settings.smtp_port, listen=False)
    with probe:
        port: int = probe.getsockname()[1]
    return port


def _reserve(host: str, port: int) -> socket.socket:
    """The port for the workers, held (bound, not listening) while the server runs.

    The workers bind it with SO_REUSEPORT, which lets any process of the same user bind it
    too: a second server, or workers left behind by a supervisor killed with SIGKILL, would
    share the connections. So the port is first bound without SO_REUSEPORT, which fails
    while anything listens on it."""
    probe = bind(host, port, listen=False)
    try:
        return bind(host, probe.getsockname()[1], reuse_port=True, listen=False)
    finally:
        probe.close()


def _announce(
    settings: Settings,
    sock: socket.socket,
    root: accounts.Credentials,
    generated: bool,
    smtp: str | None,
) -> Callable[[], None]:
    """Print where the server listens and write it to DIR/server.json; what takes the file
    back once the server has stopped."""
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    endpoint = f"http://{shown_host}:{bound_port}"
    listening = {"endpoint": endpoint}
    if smtp is not None:
        listening["smtp"] = smtp
    # Written whole or not at all: whoever waits for the file never reads half of it.
    marker = settings.data_dir / "server.json"
    content = orjson.dumps(listening)
    marker.with_suffix(".tmp").write_bytes(content)
    marker.with_suffix(".tmp").replace(marker)
    if generated:
        console.print("Generated root credentials (kept in the data directory):")
        console.print(_exports(root), markup=False, highlight=False)
    console.print(
        f"connectmail listening on {endpoint} (account {root.account_id})",
        markup=False,
        highlight=False,
    )
    if smtp is not None:
        console.print(f"inbound SMTP on {smtp}", markup=False, highlight=False)
    return lambda: _withdraw(marker, content)


def _withdraw(marker: Path, content: bytes) -> None:
    """Remove the server.json a stopped server wrote: left behind, it named a port nothing
    listened on, which whoever waits for the next start read first. Another server's (one
    started on the same data directory since) stays."""
    with contextlib.suppress(OSError):
        if marker.read_bytes() == content:
            marker.unlink()


def _exports(credentials: accounts.Credentials) -> str:
    return "\n".join(
        (
            f"export AWS_ACCESS_KEY_ID={credentials.access_key_id}",
            f"export AWS_SECRET_ACCESS_KEY={credentials.secret_access_key}",
            f"export CONNECTMAIL_ACCOUNT_ID={credentials.account_id}",
        )
    )


@app.command()
def worker(
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    relay: Relay = None,
    poll_seconds: Annotated[
        float | None,
        typer.Option(
            help="How often to look for mail that is due (default: "
            "CONNECTMAIL_DELIVERY_POLL_SECONDS, 1). New mail is claimed at once: on PostgreSQL "
            "the API processes ring a bell (NOTIFY) for it, and on SQLite the worker watches "
            "the database file for commits."
        ),
    ] = None,
) -> None:
    """Deliver accepted mail in a process of its own (beside `serve --no-deliver`)."""
    settings = _settings(
        data_dir=data_dir,
        database_url=database_url,
        relay=relay,
        delivery_poll_seconds=poll_seconds,
    )
    _require_database(settings)
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from connectmail import standalone

    with _starting("Cannot open the database"):
        store = settings.open_store()
    standalone.main(settings, store)


@app.command()
def credentials(data_dir: DataDir = None) -> None:
    """Print the root credentials as shell exports."""
    settings = _settings(data_dir=data_dir)
    configured = settings.configured_credentials
    if configured is None and not (settings.data_dir / accounts.CREDENTIALS_FILE).exists():
        console.print(
            f"No credentials in {settings.data_dir}: start the server once first (a server "
            "given CONNECTMAIL_ACCESS_KEY_ID and CONNECTMAIL_SECRET_ACCESS_KEY keeps none).",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    _check_stored_credentials(settings)
    root, _ = accounts.root_credentials(settings.data_dir, configured)
    typer.echo(_exports(root))


accounts_app = typer.Typer(help="Accounts, each with its own credentials.", no_args_is_help=True)
keys_app = typer.Typer(help="Access keys of an account.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")


def _open(settings: Settings) -> Store:
    _require_database(settings)
    with _starting("Cannot open the database"):
        return settings.open_store()


@accounts_app.command("create")
def accounts_create(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create an account; print its AccountId, AccessKeyId and SecretAccessKey as JSON."""
    store = _open(_settings(data_dir=data_dir, database_url=database_url))
    try:
        created = store.write_now(accounts.create_account)
    finally:
        store.close()
    typer.echo(orjson.dumps(created.as_json(), option=orjson.OPT_INDENT_2).decode())


@keys_app.command("create")
def keys_create(
    account: Annotated[str, typer.Option("--account", help="The account id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    policy: Annotated[
        Path | None,
        typer.Option("--policy", help="An IAM-style policy document (JSON) limiting the key."),
    ] = None,
) -> None:
    """Add an access key to an account, optionally limited by a policy; print it as JSON."""
    document = None
    if policy is not None:
        try:
            document = orjson.loads(policy.read_bytes())
            parse_policy(document)
        except (OSError, orjson.JSONDecodeError, PolicyError) as exc:
            console.print(f"Invalid policy {policy}: {exc}", markup=False, soft_wrap=True)
            raise typer.Exit(2) from None
    store = _open(_settings(data_dir=data_dir, database_url=database_url))
    try:
        created = store.write_now(lambda c: accounts.create_key(c, account, document))
    except LookupError as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(orjson.dumps(created.as_json(), option=orjson.OPT_INDENT_2).decode())


@keys_app.command("list")
def keys_list(
    account: Annotated[str, typer.Option("--account", help="The account id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List an account's access keys (not their secrets) as JSON, oldest first."""
    store = _open(_settings(data_dir=data_dir, database_url=database_url))
    try:
        keys = store.read_now(lambda c: accounts.list_keys(c, account))
    except LookupError as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(orjson.dumps(keys, option=orjson.OPT_INDENT_2).decode())


@keys_app.command("delete")
def keys_delete(
    access_key_id: Annotated[str, typer.Argument(help="The access key id.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Delete an access key: requests signed with it are refused within 5 seconds."""
    settings = _settings(data_dir=data_dir, database_url=database_url)
    root = settings.configured_credentials
    if root is None and (settings.data_dir / accounts.CREDENTIALS_FILE).is_file():
        _check_stored_credentials(settings)
        root, _ = accounts.root_credentials(settings.data_dir, None)
    store = _open(settings)
    try:
        store.write_now(lambda c: accounts.delete_key(c, access_key_id, root))
    except (LookupError, accounts.KeyKept) as exc:
        console.print(str(exc), markup=False, soft_wrap=True)
        raise typer.Exit(1) from None
    finally:
        store.close()


def main() -> None:
    app()
