"""``hiegate directory import|list|show``: the directory of remote communities the pull asks.

Light at import: handlers import the directory package.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.directory import Community, DirectoryFile

__all__ = ["add_directory_commands"]


def add_directory_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    directory = commands.add_parser("directory", help="remote communities (Carequality-style FHIR directory)")
    sub = directory.add_subparsers(dest="action", required=True, metavar="ACTION")
    load = sub.add_parser(
        "import", help="import a FHIR Bundle of Organizations (JSON or XML files, or a FHIR server's search)"
    )
    load.add_argument(
        "files", nargs="*", type=Path, help="directory files (default: the directory_file setting)"
    )
    load.add_argument(
        "--url",
        nargs="?",
        const="",
        metavar="URL",
        help="fetch the directory from its FHIR server instead: this search URL (https), every page of it "
        "(default: the directory_url setting)",
    )
    load.add_argument("--prune", action="store_true", help="remove communities missing from the files")
    load.set_defaults(handler=_import)
    listing = sub.add_parser("list", help="list the communities")
    listing.add_argument("--state", help="only this state")
    listing.add_argument("--all", action="store_true", help="include inactive communities")
    listing.add_argument("--json", action="store_true", help="print as JSON")
    listing.set_defaults(handler=_list)
    show = sub.add_parser("show", help="one community with its endpoints and partner settings")
    show.add_argument("home_community_id", help="homeCommunityId (bare OID or urn:oid:OID)")
    show.set_defaults(handler=_show)


def _database(settings: Settings) -> object:
    from gateway.store import Database

    database = Database(settings.database_url)
    database.upgrade()
    return database


def _fetched(args: argparse.Namespace, settings: Settings) -> tuple[str, DirectoryFile]:
    """The directory from its FHIR server, every page read, and a name for it in messages."""
    from gateway.config import header_pair, read_named_file
    from gateway.directory import read_directory
    from gateway.directory.fetch import fetch_directory, shown
    from gateway.security import service_ssl_context
    from xca.errors import CertificateLoadError, ConfigError

    if args.files:
        raise ConfigError("give directory files or --url, not both", detail={"setting": "--url"})
    url = args.url or settings.directory_url
    if not url:
        raise ConfigError(
            "--url needs a URL, or set directory_url to the directory's FHIR search URL",
            detail={"setting": "directory_url"},
        )
    headers: dict[str, str] = {}
    if settings.directory_auth_header is not None:
        pair = header_pair(settings.directory_auth_header.get_secret_value())
        assert pair is not None  # the setting's validator checked it
        headers[pair[0]] = pair[1]
    ca_file = settings.directory_ca_file
    if ca_file is not None:
        read_named_file(ca_file, what="directory_ca_file")  # HG-1002 naming it when it cannot be read
    try:
        context = service_ssl_context(trust_bundle=ca_file)
    except CertificateLoadError:
        raise ConfigError(
            f"directory_ca_file {ca_file}: holds no PEM CA certificate",
            detail={"setting": "directory_ca_file"},
        ) from None
    fetched = fetch_directory(url, ssl_context=context, headers=headers)
    name = shown(url)
    print(f"{name}: {fetched.pages} page{'' if fetched.pages == 1 else 's'}, {fetched.size:,} bytes")
    return name, read_directory(fetched.bundle, name)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.config import read_named_file
    from gateway.directory import import_communities, parse_directory
    from gateway.store import Database

    if args.url is not None:
        name, parsed = _fetched(args, settings)  # every page, before anything is imported
        directories = [(name, name, parsed)]
    else:
        files: list[Path] = args.files or [settings.directory_file]
        # The directory_file setting's default is what `hiegate sandbox` writes.
        hint = None if args.files else "start `hiegate sandbox` or name a directory file"
        contents = [read_named_file(path, what="directory file", hint=hint) for path in files]  # all, first
        directories = [
            (str(path), path.name, parse_directory(content, source=str(path)))
            for path, content in zip(files, contents, strict=True)
        ]
    database = _database(settings)
    assert isinstance(database, Database)
    try:
        for name, source, parsed in directories:
            with database.session() as session, session.begin():
                result = import_communities(session, parsed.communities, source=source, prune=args.prune)
            for warning in parsed.warnings:
                print(f"{name}: warning: {warning}")
            ignored = len(parsed.warnings)
            endpoints = f"; {ignored} endpoint{'' if ignored == 1 else 's'} ignored (see warnings)"
            count = len(parsed.communities)
            print(
                f"{name}: {count} communit{'y' if count == 1 else 'ies'} ({result.added} added, "
                f"{result.updated} updated, {result.unchanged} unchanged, {result.removed} removed); "
                f"{len(parsed.skipped)} skipped{endpoints if ignored else ''}"
            )
            for reason in parsed.skipped[:10]:
                print(f"  skipped {reason}")
    finally:
        database.dispose()
    return 0


def _communities(settings: Settings) -> list[Community]:
    from gateway.directory import list_communities
    from gateway.store import Database

    database = _database(settings)
    assert isinstance(database, Database)
    try:
        with database.session() as session:
            return list_communities(session)
    finally:
        database.dispose()


def _list(args: argparse.Namespace, settings: Settings) -> int:
    shown = [
        c
        for c in _communities(settings)
        if (args.all or c.active)
        and (not args.state or (c.location.state or "").upper() == args.state.upper())
    ]
    if args.json:
        print(json.dumps([_as_json(c) for c in shown], indent=2))
        return 0
    for c in shown:
        via = f" via {c.via}" if c.via else ""
        status = "" if c.active else " (inactive)"
        reach = c.gateway.origin or "no endpoint"
        print(
            f"{c.home_community_id:<40} {c.location.state or '--':<3} {c.name[:40]:<40} {reach}{via}{status}"
        )
    print(f"{len(shown)} communit{'y' if len(shown) == 1 else 'ies'}")
    return 0


def _as_json(c: Community) -> dict[str, object]:
    return {
        "home_community_id": c.home_community_id,
        "name": c.name,
        "active": c.active,
        "part_of": c.part_of,
        "via": c.via,
        "location": {
            "city": c.location.city,
            "state": c.location.state,
            "postal_code": c.location.postal_code,
            "latitude": c.location.latitude,
            "longitude": c.location.longitude,
        },
        "endpoints": {"iti55": c.gateway.iti55, "iti38": c.gateway.iti38, "iti39": c.gateway.iti39},
    }


_URN_OID = "urn:oid:"


def _bare_oid(home_community_id: str) -> str:
    """A homeCommunityId as the directory keys it: ``urn:oid:1.2.3`` (as XCA writes it) is ``1.2.3``."""
    text = home_community_id.strip()
    return text[len(_URN_OID) :] if text.lower().startswith(_URN_OID) else text


def _show(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.directory import UnknownCommunityError, partners_of

    hcid = _bare_oid(args.home_community_id)
    found = [c for c in _communities(settings) if c.home_community_id == hcid]
    if not found:
        raise UnknownCommunityError(
            "the directory does not list this community", detail={"home_community_id": hcid}
        )
    shown = _as_json(found[0])
    partner = partners_of(settings).for_community(hcid)
    shown["partner"] = {
        "connect_timeout": partner.connect_timeout,
        "read_timeout": partner.read_timeout,
        "total_timeout": partner.total_timeout,
        "retrieve_batch_size": partner.retrieve_batch_size,
        "max_attempts": partner.max_attempts,
        "max_connections": partner.max_connections,
        "signature_algorithm": partner.signature_algorithm.value,
        "digest_algorithm": partner.digest_algorithm.value,
        "header_order": [h.value for h in partner.header_order],
        "required_date_range_days": partner.required_date_range_days,
        "audience": partner.audience,
    }
    print(json.dumps(shown, indent=2))
    return 0
