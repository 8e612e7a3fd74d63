"""The `connectmail` command: serve the API, print credentials."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.console import Console

from connectmail import standalone
from connectmail.access.policy import PolicyError, parse_policy
from connectmail.access.throttling import PROFILES
from connectmail.config import Settings
from connectmail.domain import accounts
from connectmail.inbound.smtp import describe_address
from connectmail.server import build_application, open_store, prepare
from connectmail.sockets import bind
from connectmail.store.store import Store
from connectmail.workers import Supervisor, serve_app

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


def _settings(**overrides: object) -> Settings:
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)  # type: ignore[arg-type]


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
    if limits is not None and limits not in PROFILES:
        raise typer.BadParameter(f"choose one of {', '.join(PROFILES)}", param_hint="--limits")
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
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if settings.workers > 1:
        _serve_workers(settings)
        return
    application = build_application(settings)
    sock = bind(settings.host, settings.port)
    smtp = describe_address(application.inbound) if application.inbound is not None else None
    _announce(settings, sock, application.root, application.root_generated, smtp)
    serve_app(application, settings, sock)


def _serve_workers(settings: Settings) -> None:
    """Several processes on one port, each building its app from the settings passed down."""
    root, generated = prepare(settings)
    # Held (bound, not listening) while the server runs, so the port stays ours.
    reserved = bind(settings.host, settings.port, reuse_port=True, listen=False)
    if settings.smtp_port == 0:  # the workers must agree on one port
        probe = bind(settings.smtp_host or settings.host, 0, listen=False)
        settings.smtp_port = probe.getsockname()[1]
        probe.close()
    smtp = None
    if settings.smtp_port is not None:
        smtp = f"{settings.smtp_host or settings.host}:{settings.smtp_port}"
    _announce(settings, reserved, root, generated, smtp)
    Supervisor(settings, reserved.getsockname()[1]).run()
    reserved.close()


def _announce(
    settings: Settings,
    sock: socket.socket,
    root: accounts.Credentials,
    generated: bool,
    smtp: str | None,
) -> None:
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    endpoint = f"http://{shown_host}:{bound_port}"
    listening = {"endpoint": endpoint}
    if smtp is not None:
        listening["smtp"] = smtp
    # Written whole or not at all: whoever waits for the file never reads half of it.
    marker = settings.data_dir / "server.json"
    marker.with_suffix(".tmp").write_bytes(orjson.dumps(listening))
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
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    standalone.main(settings)


@app.command()
def credentials(data_dir: DataDir = None) -> None:
    """Print the root credentials as shell exports."""
    settings = _settings(data_dir=data_dir)
    configured = settings.configured_credentials
    if configured is None and not (settings.data_dir / accounts.CREDENTIALS_FILE).exists():
        console.print(f"No credentials in {settings.data_dir}: start the server once first.")
        raise typer.Exit(1)
    root, _ = accounts.root_credentials(settings.data_dir, configured)
    typer.echo(_exports(root))


accounts_app = typer.Typer(help="Accounts, each with its own credentials.", no_args_is_help=True)
keys_app = typer.Typer(help="Access keys of an account.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(keys_app, name="keys")


def _open(data_dir: Path | None, database_url: str | None) -> Store:
    return open_store(_settings(data_dir=data_dir, database_url=database_url))


@accounts_app.command("create")
def accounts_create(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Create an account; print its AccountId, AccessKeyId and SecretAccessKey as JSON."""
    store = _open(data_dir, database_url)
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
            console.print(f"Invalid policy {policy}: {exc}", markup=False)
            raise typer.Exit(2) from None
    store = _open(data_dir, database_url)
    try:
        created = store.write_now(lambda c: accounts.create_key(c, account, document))
    except LookupError as exc:
        console.print(str(exc), markup=False)
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(orjson.dumps(created.as_json(), option=orjson.OPT_INDENT_2).decode())


def main() -> None:
    app()
