"""``hiegate serve`` (the FHIR API) and ``hiegate clients add|list|key|webhook|disable|remove`` (its
registered clients).

Light at import (argparse only); handlers import what they need when they run. ``serve`` applies the
migrations before it listens. It speaks plain HTTP on 127.0.0.1 by default: a real deployment sits behind
a TLS-terminating proxy (set ``api_public_url`` to the proxy's https URL, which is also the token audience),
or sets ``api_tls_cert`` / ``api_tls_key`` to serve HTTPS itself.
"""

from __future__ import annotations

import argparse
import gc
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from xca.errors import ConfigError, HieGatewayError, PathAccessError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from gateway.config import Settings
    from gateway.store import Database
    from gateway.store.api import ApiClient

__all__ = ["add_serve_commands"]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _database(settings: Settings) -> Database:
    from gateway.store import Database

    db = Database(settings.database_url)
    db.upgrade()
    return db


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from fhir_facade.api.app import create_app, public_base_url
    from gateway.config import load_settings
    from gateway.responding import listen_sockets

    flags = {"api_host": ("--host", args.host), "api_port": ("--port", args.port)}
    overrides = {name: value for name, (_, value) in flags.items() if value is not None}
    if overrides:
        origins = {name: flag for name, (flag, _) in flags.items()}
        settings = load_settings(args.config, origins=origins, **overrides)
    if (settings.api_tls_cert is None) != (settings.api_tls_key is None):
        raise ConfigError("api_tls_cert and api_tls_key go together", detail={"setting": "api_tls_cert"})
    db = _database(settings)  # the server applies migrations on start
    try:
        app = create_app(settings, database=db, migrate=False)
        sockets = listen_sockets(settings.api_host, settings.api_port)
        print(
            f"FHIR API on http{'s' if settings.api_tls_cert else ''}://{settings.api_host}:{settings.api_port}"
        )
        print(f"  base URL {public_base_url(settings)}  (token URL {public_base_url(settings)}/auth/token)")
        # The start-up heap (modules, ORM mappers, the app) lives as long as the process: kept out of the
        # cyclic collector, whose full passes over it would otherwise land in the middle of requests.
        gc.collect()
        gc.freeze()
        server = uvicorn.Server(uvicorn.Config(app, **_uvicorn_options(settings)))
        try:
            server.run(sockets=sockets)
        finally:
            for sock in sockets:
                sock.close()
    finally:
        db.dispose()
    return 0 if server.started else 1


def _uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's settings for ``serve``. Its access log is off: it writes the query string (names, birth
    dates, identifiers); the app logs each request by its route template instead."""
    return {
        "host": settings.api_host,
        "port": settings.api_port,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "ssl_certfile": str(settings.api_tls_cert) if settings.api_tls_cert else None,
        "ssl_keyfile": str(settings.api_tls_key) if settings.api_tls_key else None,
        "proxy_headers": False,
    }


def _jwks(args: argparse.Namespace) -> dict[str, object] | None:
    from fhir_facade.api.auth.clients import jwk_from_public_pem
    from gateway.config import read_named_file

    if args.jwks and args.public_key:
        raise ConfigError("give --jwks or --public-key, not both", detail={"setting": "jwks"})
    try:
        if args.jwks:
            loaded = json.loads(read_named_file(Path(args.jwks), what="JWKS file").decode("utf-8"))
            return loaded if isinstance(loaded, dict) else {"keys": loaded}
        if args.public_key:
            return {"keys": [jwk_from_public_pem(read_named_file(Path(args.public_key), what="key file"))]}
    except PathAccessError:
        raise
    except ValueError as exc:  # JSON, UTF-8 or key errors
        raise ConfigError(
            f"cannot read the client's keys: {_reason(exc)}", detail={"setting": "jwks"}
        ) from None
    return None


def _reason(exc: ValueError) -> str:
    """The message of ``exc`` without its code when it has one: the CLI prints its own (``HG-1001``)."""
    return exc.message if isinstance(exc, HieGatewayError) else str(exc)


_USER_OPTIONS = {"user_name": "--user-name", "user_role": "--user-role"}


def _clients_add(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_facade.api.auth.clients import (
        ClientRegistration,
        add_api_key,
        client_by_id,
        missing_user_fields,
        register_client,
    )
    from gateway.store.documents import ensure_tenant

    registration = ClientRegistration(
        client_id=args.client_id,
        name=args.name or args.client_id,
        scopes=" ".join(args.scopes),
        jwks=_jwks(args),
        user_id=args.user_id,
        user_name=args.user_name,
        user_npi=args.user_npi,
        user_role=args.user_role,
        purpose_of_use=args.purpose,
        organization_oid=args.organization_oid,
        allow_user_headers=args.user_headers,
    )
    missing = missing_user_fields(registration)
    if missing:  # every request of the client would be refused: checked before anything is stored
        options = " and ".join(_USER_OPTIONS[field] for field in missing)
        raise ConfigError(
            f"the requesting user needs a name and a role: add {options}", detail={"setting": "user"}
        )
    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            if client_by_id(session, args.client_id) is not None:
                raise ConfigError(
                    f"client id {args.client_id!r} is already registered; `hiegate clients remove "
                    f"{args.client_id}` frees it if the client never pulled or exported, else choose "
                    "another id",
                    detail={"setting": "client"},
                )
            tenant = ensure_tenant(session, args.tenant or settings.tenant, settings.organization_name)
            try:
                client = register_client(session, tenant, registration)
                key = add_api_key(session, client) if args.api_key else None
            except ValueError as exc:
                raise ConfigError(_reason(exc), detail={"setting": "client"}) from None
    finally:
        db.dispose()
    print(f"client {client.client_id} registered for tenant {tenant.slug} with scopes: {client.scopes}")
    if key is not None:
        print(f"API key (shown once, store it now): {key}")
    return 0


def _clients_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import func, select

    from fhir_facade.api.auth.clients import list_clients
    from gateway.store.api import ApiKey
    from gateway.store.api_jobs import ApiWebhook

    db = _database(settings)
    try:
        with db.session() as session:
            rows = list_clients(session)
            # Revoked keys no longer open anything, so they are not counted.
            counted = session.execute(
                select(ApiKey.client_pk, func.count())
                .where(ApiKey.revoked_at.is_(None))
                .group_by(ApiKey.client_pk)
            )
            live_keys: dict[int, int] = {row[0]: row[1] for row in counted}
            hooks = {row[0]: row[1] for row in session.execute(select(ApiWebhook.client_pk, ApiWebhook.url))}
    finally:
        db.dispose()
    for client, tenant in rows:
        jwks = len((client.jwks or {}).get("keys", []))  # type: ignore[arg-type]
        state = "active" if client.active else "disabled"
        keys = live_keys.get(client.id, 0)
        hook = f"\twebhook={hooks[client.id]}" if client.id in hooks else ""  # its URL: never the secret
        print(f"{client.client_id}\t{tenant}\t{state}\tapi_keys={keys}\tjwks={jwks}\t{client.scopes}{hook}")
    return 0


def _client(session: Session, client_id: str) -> ApiClient:
    """The registered client ``client_id``, or the CLI error naming it."""
    from fhir_facade.api.auth.clients import client_by_id

    client = client_by_id(session, client_id)
    if client is None:
        raise ConfigError(f"no client {client_id!r}", detail={"setting": "client"})
    return client


def _clients_key(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_facade.api.auth.clients import add_api_key

    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            client = _client(session, args.client_id)
            try:
                key = add_api_key(session, client, " ".join(args.scopes) if args.scopes else None)
            except ValueError as exc:
                raise ConfigError(_reason(exc), detail={"setting": "scopes"}) from None
    finally:
        db.dispose()
    print(f"API key (shown once, store it now): {key}")
    return 0


def _webhook_secret(path: str) -> str:
    """The secret in the file ``path`` (one line; surrounding whitespace ignored). An unreadable file is the
    CLI's HG-1002."""
    try:
        secret = Path(path).read_text(encoding="utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path}: the webhook secret file is not UTF-8 text", detail={"path": path}
        ) from None
    if "\n" in secret or "\r" in secret:
        raise ConfigError(f"{path}: the webhook secret must be one line", detail={"path": path})
    return secret


def _clients_webhook(args: argparse.Namespace, settings: Settings) -> int:
    import secrets

    from fhir_facade.api.background import remove_webhook, set_webhook

    if args.remove:
        if args.url is not None or args.secret_file is not None:
            raise ConfigError("--remove takes no URL and no --secret-file", detail={"setting": "webhook"})
    elif args.url is None:
        raise ConfigError("give the webhook URL, or --remove", detail={"setting": "webhook"})
    generated: str | None = None
    if args.remove:
        secret = ""
    elif args.secret_file is not None:
        secret = _webhook_secret(args.secret_file)
    else:  # never typed on the command line, where shell history and `ps` would keep it
        secret = generated = secrets.token_urlsafe(32)
    db = _database(settings)
    try:
        try:
            if args.remove:
                url = remove_webhook(db, args.client_id)
                done = "removed (events are no longer sent)"
            else:
                url = str(args.url)
                done = "replaced" if set_webhook(db, args.client_id, url, secret) else "registered"
        except ValueError as exc:
            raise ConfigError(_reason(exc), detail={"setting": "webhook"}) from None
    finally:
        db.dispose()
    print(f"webhook of client {args.client_id} {done}: {url}")
    if generated is not None:
        print(f"webhook secret (shown once, it will not be shown again; store it now): {generated}")
    return 0


def _clients_disable(args: argparse.Namespace, settings: Settings) -> int:
    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            client = _client(session, args.client_id)
            client.active = False
    finally:
        db.dispose()
    print(f"client {args.client_id} disabled: its tokens and API keys stop working now")
    return 0


def _clients_remove(args: argparse.Namespace, settings: Settings) -> int:
    from fhir_facade.api.auth.clients import remove_client

    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            client = _client(session, args.client_id)
            try:
                remove_client(session, client)
            except ValueError as exc:
                hint = f"disable it instead: hiegate clients disable {args.client_id}"
                raise ConfigError(f"{_reason(exc)}; {hint}", detail={"setting": "client"}) from None
    finally:
        db.dispose()
    print(f"client {args.client_id} removed with its API keys: the id can be registered again")
    return 0


def add_serve_commands(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="run the FHIR API (applies migrations first)")
    serve.add_argument("--host", help="listen address (default: the api_host setting)")
    serve.add_argument("--port", type=int, help="listen port (default: the api_port setting)")
    serve.set_defaults(handler=_serve)

    clients = commands.add_parser("clients", help="API clients (SMART Backend Services) and API keys")
    sub = clients.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = sub.add_parser("add", help="register a client with its public keys, scopes and requesting user")
    add.add_argument("client_id")
    add.add_argument("--name", help="display name")
    add.add_argument("--tenant", help="tenant slug (default: the tenant setting)")
    add.add_argument(
        "--scopes", nargs="+", required=True, help="e.g. system/Patient.rs system/AuditEvent.read"
    )
    add.add_argument("--jwks", help="JSON file with the client's public JWKS")
    add.add_argument("--public-key", help="PEM file with the client's public key (RSA or EC P-384)")
    add.add_argument("--user-id", help="requesting user's account id (SAML NameID)")
    add.add_argument("--user-name", help="requesting user's name")
    add.add_argument("--user-npi", help="requesting user's NPI")
    add.add_argument("--user-role", help="requesting user's SNOMED CT role code (e.g. 112247003)")
    add.add_argument("--purpose", default="TREATMENT", help="purpose of use (default TREATMENT)")
    add.add_argument("--organization-oid", help="user's organization OID (default: home_community_id)")
    add.add_argument(
        "--user-headers",
        action="store_true",
        help="accept X-Requesting-User-* headers (api_user_source=headers)",
    )
    add.add_argument("--api-key", action="store_true", help="also create a development API key")
    add.set_defaults(handler=_clients_add)
    sub.add_parser("list", help="list registered clients").set_defaults(handler=_clients_list)
    key = sub.add_parser("key", help="create a development API key for a client")
    key.add_argument("client_id")
    key.add_argument("--scopes", nargs="+", help="subset of the client's scopes (default: all)")
    key.set_defaults(handler=_clients_key)
    webhook = sub.add_parser(
        "webhook", help="register or replace a client's completion webhook (or --remove it)"
    )
    webhook.add_argument("client_id")
    webhook.add_argument("url", nargs="?", help="https URL (http only to the local host)")
    webhook.add_argument(
        "--secret-file",
        metavar="PATH",
        help="file holding the signing secret (default: a new random secret, printed once)",
    )
    webhook.add_argument("--remove", action="store_true", help="remove the client's webhook")
    webhook.set_defaults(handler=_clients_webhook)
    disable = sub.add_parser("disable", help="disable a client (its tokens and keys stop working)")
    disable.add_argument("client_id")
    disable.set_defaults(handler=_clients_disable)
    remove = sub.add_parser("remove", help="delete a client that never pulled or exported (frees its id)")
    remove.add_argument("client_id")
    remove.set_defaults(handler=_clients_remove)
