"""``hiegate respond``, ``hiegate patients ...`` and ``hiegate documents ...``: the responding gateway and the
clinic's own data it answers from.

Light at import (argparse only): every handler imports what it needs when it runs, so ``hiegate --help``
stays fast. ``patients list`` prints demographics to stdout for the operator; nothing here logs PHI.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from gateway.pull_input import add_given_argument, given_names
from xca.errors import ConfigError

if TYPE_CHECKING:
    from gateway.config import Settings
    from gateway.store import Database, Tenant
    from xca.ids import Cx

__all__ = ["add_responding_commands"]

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def _database(settings: Settings) -> Database:
    from gateway.store import Database

    db = Database(settings.database_url)
    db.upgrade()
    return db


def _tenant(session: object, settings: Settings) -> Tenant:
    from sqlalchemy.orm import Session

    from gateway.store.documents import ensure_tenant

    assert isinstance(session, Session)
    return ensure_tenant(session, settings.tenant, settings.organization_name)


def _respond(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.config import load_settings
    from gateway.responding import (
        create_responding_app,
        gateway_from_settings,
        listen_sockets,
        responder_ssl_context,
    )
    from gateway.security import uvicorn_config

    flags = {"responding_host": ("--host", args.host), "responding_port": ("--port", args.port)}
    overrides = {name: value for name, (_, value) in flags.items() if value is not None}
    if overrides:
        origins = {name: flag for name, (flag, _) in flags.items()}
        settings = load_settings(args.config, origins=origins, **overrides)
    db = _database(settings)  # the server applies migrations on start
    try:
        # The tenant is found or created now, not by the first request.
        gateway = gateway_from_settings(settings, db).prepare()
        app = create_responding_app(gateway)
        context = responder_ssl_context(settings)
        sockets = listen_sockets(settings.responding_host, settings.responding_port)
        config = gateway.config
        print(
            f"responding gateway {config.home_community_id} ({config.organization_name}) "
            f"on {config.public_base_url}"
        )
        for name, path in (
            ("ITI-55", config.paths.iti55),
            ("ITI-38", config.paths.iti38),
            ("ITI-39", config.paths.iti39),
        ):
            print(f"  {name}  POST {path}")
        server = uvicorn.Server(
            uvicorn_config(
                app,
                ssl_context=context,
                host=settings.responding_host,
                port=settings.responding_port,
                log_level=settings.log_level.lower(),
            )
        )
        # The start-up heap (modules, certificates, ORM mappers, the app) lives as long as the process: kept
        # out of the cyclic collector, whose full passes over it would otherwise land in requests.
        gc.collect()
        gc.freeze()
        try:
            server.run(sockets=sockets)
        finally:
            for sock in sockets:
                sock.close()
    finally:
        db.dispose()
    return 0 if server.started else 1


def _demographics(args: argparse.Namespace) -> object:
    from xca.iti55 import Address, AdministrativeGender, Demographics, PersonName, Telecom

    if args.from_ccda:
        from gateway.responding import demographics_from_ccda

        return demographics_from_ccda(args.from_ccda.read_bytes())
    if not (args.family and args.given and args.birth_date):
        raise ConfigError(
            "give --family, --given and --birth-date, or --from-ccda FILE", detail={"setting": "patient"}
        )
    try:
        birth = dt.date.fromisoformat(args.birth_date)
    except ValueError:
        raise ConfigError("--birth-date must be YYYY-MM-DD", detail={"setting": "birth-date"}) from None
    address = Address((args.street,), args.city, args.state, args.zip, "US", "H") if args.street else None
    return Demographics(
        names=(PersonName(given=given_names(args.given), family=args.family, use="L"),),
        gender=AdministrativeGender(args.gender) if args.gender else None,
        birth_date=birth,
        addresses=(address,) if address else (),
        telecoms=(Telecom(f"tel:{args.phone}", "HP"),) if args.phone else (),
    )


def _patients_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.responding import config_from_settings, register_patient
    from xca.iti55 import Demographics

    demographics = _demographics(args)
    assert isinstance(demographics, Demographics)
    config = config_from_settings(settings)
    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            patient = register_patient(
                session,
                _tenant(session, settings),
                demographics,
                assigning_authority=config.assigning_authority,
                mrn=args.mrn,
            )
    finally:
        db.dispose()
    print(f"patient {patient.cx.id}^^^&{patient.cx.root}&ISO registered")
    return 0


def _patients_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.responding import config_from_settings, list_patients

    config = config_from_settings(settings)
    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            patients = list_patients(
                session,
                _tenant(session, settings),
                assigning_authority=config.assigning_authority,
                limit=args.limit,
            )
    finally:
        db.dispose()
    for patient in patients:
        demo = patient.demographics
        name = demo.names[0] if demo.names else None
        shown = f"{name.family or ''}, {' '.join(name.given)}" if name else "?"
        gender = demo.gender.value if demo.gender else "-"
        print(f"{patient.cx.id:<16} {shown:<32} {demo.birth_date or '-'} {gender}")
    print(f"{len(patients)} patient(s)")
    return 0


def _patient_cx(text: str, assigning_authority: str) -> Cx:
    """The ``Cx`` of ``--patient``: the bare id, or the whole CX as `patients add` prints it
    (``ID^^^&OID&ISO``), whose authority must then be this gateway's."""
    from xca.errors import InvalidValueError
    from xca.ids import Cx, parse_cx

    if "^" not in text:
        return Cx(text.strip().strip("'\""), assigning_authority)
    try:
        cx = parse_cx(text)
    except InvalidValueError as exc:
        raise ConfigError(f"--patient: {exc.message}", detail={"setting": "patient"}) from None
    if cx.root != assigning_authority:
        raise ConfigError(
            f"--patient: assigning authority {cx.root} is not this gateway's; its patient ids are "
            f"ID^^^&{assigning_authority}&ISO (or the bare ID)",
            detail={"setting": "patient"},
        )
    return cx


def _documents_add(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.responding import (
        DocumentDefaults,
        add_document,
        config_from_settings,
        demographics_from_ccda,
        entry_from_ccda,
        patient_by_id,
        record_target_conflicts,
    )
    from xca.errors import InvalidValueError

    config = config_from_settings(settings)
    cx = _patient_cx(args.patient, config.assigning_authority)
    content = args.file.read_bytes()
    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            tenant = _tenant(session, settings)
            patient = patient_by_id(session, tenant, cx)
            if patient is None:
                raise InvalidValueError("no patient with this id; add it with `hiegate patients add`")
            defaults = DocumentDefaults(config.home_community_id, config.repository_unique_id)
            entry = entry_from_ccda(content, patient.cx, defaults)
            conflict = record_target_conflicts(demographics_from_ccda(content), patient, config.matching)
            if conflict is not None and not args.other_name:
                score, disagree = conflict
                why = f"{', '.join(disagree)} differ" if disagree else "too little agrees"
                raise InvalidValueError(
                    f"{args.file}: its recordTarget is not this patient ({why}; match score {score}, "
                    f"{config.matching.match_threshold} needed): `respond` would serve it to the network as "
                    "theirs; check the file, or give --other-name if it names the same person differently"
                )
            created = add_document(session, tenant, patient, entry, content)
    finally:
        db.dispose()
    state = "added" if created else "already present"
    print(
        f"document {entry.unique_id} {state}: {entry.title} "
        f"(type {entry.type_code.code if entry.type_code else '?'}, {entry.size} bytes, "
        f"format {entry.format_code.code if entry.format_code else '?'})"
    )
    return 0


def _documents_list(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.responding import config_from_settings, list_documents, patient_by_id
    from xca.errors import InvalidValueError

    config = config_from_settings(settings)
    cx = _patient_cx(args.patient, config.assigning_authority)
    db = _database(settings)
    try:
        with db.session() as session, session.begin():
            tenant = _tenant(session, settings)
            patient = patient_by_id(session, tenant, cx)
            if patient is None:
                raise InvalidValueError("no patient with this id")
            entries = list_documents(session, tenant, patient)
    finally:
        db.dispose()
    for entry in entries:
        print(f"{entry.unique_id:<40} {entry.creation_time or '-'}  {entry.title}")
    print(f"{len(entries)} document(s)")
    return 0


def add_responding_commands(commands: Commands) -> None:
    """``respond``, ``patients add|list`` and ``documents add|list``."""
    respond = commands.add_parser(
        "respond", help="serve the responding gateway (ITI-55/38/39) over mutual TLS"
    )
    respond.add_argument("--host", help="listen address (default: the responding_host setting)")
    respond.add_argument("--port", type=int, help="listen port (default: the responding_port setting)")
    respond.set_defaults(handler=_respond)

    patients = commands.add_parser("patients", help="the clinic's own patients")
    patients_sub = patients.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = patients_sub.add_parser("add", help="register a patient")
    add.add_argument("--from-ccda", type=Path, metavar="FILE", help="take the demographics from a C-CDA")
    add.add_argument("--family")
    add_given_argument(add)
    add.add_argument("--birth-date", metavar="YYYY-MM-DD")
    add.add_argument("--gender", choices=("F", "M", "UN"))
    add.add_argument("--street")
    add.add_argument("--city")
    add.add_argument("--state")
    add.add_argument("--zip")
    add.add_argument("--phone", help="e.g. +1-555-555-0100")
    add.add_argument("--mrn", help="patient id to use (default: generated)")
    add.set_defaults(handler=_patients_add)
    listing = patients_sub.add_parser("list", help="list patients")
    listing.add_argument("--limit", type=int, default=100)
    listing.set_defaults(handler=_patients_list)

    documents = commands.add_parser("documents", help="the clinic's own documents")
    documents_sub = documents.add_subparsers(dest="action", required=True, metavar="ACTION")
    doc_add = documents_sub.add_parser("add", help="add a C-CDA with XDS metadata read from its header")
    doc_add.add_argument("file", type=Path, metavar="FILE")
    doc_add.add_argument("--patient", required=True, help="the patient id (as `patients add` printed)")
    doc_add.add_argument(
        "--other-name",
        action="store_true",
        help="file it although its recordTarget does not match the patient (the same person under another "
        "name, e.g. a former family name: checked by you)",
    )
    doc_add.set_defaults(handler=_documents_add)
    doc_list = documents_sub.add_parser("list", help="list a patient's documents")
    doc_list.add_argument("--patient", required=True, help="the patient id (as `patients add` printed)")
    doc_list.set_defaults(handler=_documents_list)
