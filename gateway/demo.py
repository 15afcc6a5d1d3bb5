"""``hiegate demo`` (``make demo``): the most complete flow that exists today, and what it did.

1. the development PKI is created (or kept) and checked against its trust bundle;
2. the database is migrated;
3. one patient's exchange runs between the project's initiating-side and responding-side wire code, through
   serialized bytes, the hardened parser and the MTOM reader: ITI-55 discovery, ITI-38 FindDocuments,
   ITI-39 retrieve; the retrieved document's size and SHA-1 are checked against its XDS metadata;
4. the document is kept in the raw document store, once (a second run finds it already there).

Signatures, mutual TLS, the network, patient matching, conversion and audit are later milestones; the demo
says so at the end instead of pretending. Output shows only synthetic data.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from certs import check_dev_pki, init_dev_pki
from gateway.config import Settings, masked_settings
from gateway.demo_peer import DemoPeer, demo_demographics, utc_now
from gateway.store import Database
from gateway.store.documents import ensure_tenant, store_raw_document
from xca import iti38, iti39, iti55
from xca.errors import HieGatewayError, WireFormatError
from xca.ids import format_cx
from xca.soap import Action, Addressing, build_envelope, parse_envelope, to_bytes

__all__ = ["run_demo"]

T = TypeVar("T")
_DEMO_PEER_COMMUNITY = "2.25.4242424242"


def _step(action: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = action()
    return result, (time.perf_counter() - started) * 1000


def _say(label: str, text: str, ms: float | None = None) -> None:
    timing = f"  ({ms:.1f} ms)" if ms is not None else ""
    print(f"  {label:<10} {text}{timing}")


def _request(body: object, action: Action, to: str) -> bytes:
    from lxml import etree

    assert isinstance(body, etree._Element)
    return to_bytes(build_envelope(body, Addressing.request(action, to=to)))


def run_demo(settings: Settings) -> int:
    shown = masked_settings(settings)
    print("hie-gateway demo: the most complete flow that exists today, end to end\n")
    print(
        f"  settings   database {shown['database_url']}, certs {settings.certs_dir}, "
        f"homeCommunityId {settings.home_community_id}"
    )

    password = settings.key_password.get_secret_value() if settings.key_password else None
    pki, ms = _step(lambda: init_dev_pki(settings.certs_dir, key_password=password))
    created = sum(1 for f in pki.files if f.status.value != "kept")
    report = check_dev_pki(settings.certs_dir, key_password=password)
    _say(
        "PKI",
        f"{len(pki.files)} files in {settings.certs_dir} ({created} created, "
        f"{len(pki.files) - created} kept); {len(report.checks)} certificates "
        f"{'valid against the trust bundle' if report.ok else 'FAILED validation'}",
        ms,
    )
    for warning in report.warnings:
        _say("", f"warning: {warning}")
    if not report.ok:
        print(report)
        return 1

    db = Database(settings.database_url)
    try:
        revision, ms = _step(db.upgrade)
        _say("database", f"schema at revision {revision}", ms)
        return _exchange(settings, db)
    finally:
        db.dispose()


def _exchange(settings: Settings, db: Database) -> int:
    now = utc_now()
    peer = DemoPeer(home_community_id=_DEMO_PEER_COMMUNITY, now=now)
    me = iti55.Device(f"{settings.home_community_id}.1", settings.home_community_id)
    wanted = demo_demographics()
    name = wanted.names[0]
    print(
        f"\n  asking community {peer.home} for {' '.join(name.given)} {name.family}, "
        f"born {wanted.birth_date} (synthetic)"
    )

    request = iti55.Iti55Request(
        message_id=iti55.Ii(str(uuid.uuid4())),
        creation_time=now,
        sender=me,
        receiver=peer.device,
        query=iti55.Iti55Query(iti55.Ii(f"{settings.home_community_id}.9", uuid.uuid4().hex), wanted),
    )
    wire = _request(iti55.build_iti55_request(request), Action.ITI55_REQUEST, peer.device.telecom or "")
    answer, ms = _step(lambda: peer.answer_iti55(wire))
    envelope = parse_envelope(answer)
    if envelope.body is None:
        raise WireFormatError("ITI-55 answer carried no payload")
    discovery = iti55.parse_iti55_response(envelope.body)
    if not discovery.matches:
        _say("ITI-55", f"{discovery.query_response_code.value}: no match")
        return 1
    match = discovery.matches[0]
    patient = match.cx
    _say(
        "ITI-55",
        f"request {len(wire):,} B -> {discovery.query_response_code.value}, {len(discovery.matches)} "
        f"match: {format_cx(patient)} at {match.home_community_id}, score {match.score}; "
        f"response {len(answer):,} B",
        ms,
    )

    query = iti38.Iti38Request(iti38.FindDocumentsQuery(patient_id=patient), home_community_id=peer.home)
    wire = _request(iti38.build_iti38_request(query), Action.ITI38_REQUEST, "https://peer.demo.invalid/xca")
    answer, ms = _step(lambda: peer.answer_iti38(wire))
    envelope = parse_envelope(answer)
    if envelope.body is None:
        raise WireFormatError("ITI-38 answer carried no payload")
    found = iti38.parse_iti38_response(envelope.body)
    _say(
        "ITI-38",
        f"FindDocuments -> {found.status.name}, {len(found.documents)} document(s); "
        f"response {len(answer):,} B",
        ms,
    )
    for entry in found.documents:
        _say("", f'  {entry.unique_id}  {entry.mime_type}  {entry.size} B  "{entry.title}"')

    requests = [
        iti39.DocumentRequest(e.home_community_id, e.repository_unique_id or "", e.unique_id)
        for e in found.documents
    ]
    wire = _request(
        iti39.build_iti39_request(requests), Action.ITI39_REQUEST, "https://peer.demo.invalid/xca"
    )
    (body, content_type), ms = _step(lambda: peer.answer_iti39(wire))
    retrieved = iti39.parse_iti39_response(body, content_type)
    _say(
        "ITI-39",
        f"retrieve {len(requests)} -> {retrieved.status.name}, {len(retrieved.documents)} document(s) "
        f"as {retrieved.transport.value} ({len(body):,} B multipart/related)",
        ms,
    )
    return _verify_and_store(settings, db, found.documents, retrieved)


def _verify_and_store(
    settings: Settings,
    db: Database,
    entries: tuple[iti38.DocumentEntry, ...],
    retrieved: iti39.RetrieveResponse,
) -> int:
    metadata = {e.unique_id: e for e in entries}
    with db.session() as session, session.begin():
        tenant = ensure_tenant(session, settings.tenant, settings.organization_name)
        for document in retrieved.documents:
            entry = metadata.get(document.document_unique_id)
            content = bytes(document.content)
            sha1 = hashlib.sha1(content, usedforsecurity=False).hexdigest()
            if entry is None or entry.size != len(content) or entry.hash != sha1:
                _say("check", f"document {document.document_unique_id} does not match its metadata")
                return 1
            _say("check", f"{document.document_unique_id}: size and SHA-1 match the ITI-38 metadata")
            try:
                stored = store_raw_document(
                    session,
                    tenant,
                    home_community_id=document.home_community_id or "",
                    repository_id=document.repository_unique_id,
                    unique_id=document.document_unique_id,
                    mime_type=document.mime_type,
                    content=content,
                )
            except HieGatewayError as exc:
                _say("store", str(exc))
                return 1
            state = "stored" if stored.created else "already stored (kept once)"
            _say("store", f"{state} in tenant '{settings.tenant}', sha256 {stored.sha256[:16]}..")
    print(
        "\n  not yet: SAML/WS-Security signatures, mutual TLS and the network (this exchange ran in one "
        "process),"
    )
    print(
        "  patient matching, the sandbox network, C-CDA -> FHIR conversion, the audit log and the FHIR API."
    )
    return 0
