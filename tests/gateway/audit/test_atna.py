"""ATNA (DICOM PS3.15 A.5 / RFC 3881) XML export: structure, codes and the shared real-world sample."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import pytest
from lxml import etree

from gateway.audit import AuditSource, Direction, RefusalReason, StoredRecord, to_atna_xml, write_atna
from tests.gateway.audit.factories import (
    FAMILY_NAME,
    LOCAL,
    REMOTE_COMMUNITY,
    T0,
    every_path,
    iti38,
    iti39,
    iti55,
    refusal,
)

PATHS = every_path()
TOP_ORDER = [
    "EventIdentification",
    "ActiveParticipant",
    "AuditSourceIdentification",
    "ParticipantObjectIdentification",
]


def _stored(event: object) -> StoredRecord:
    return StoredRecord(tenant_id=1, tenant="c", seq=1, recorded_at=T0, prev_hash="", hash="", event=event)  # type: ignore[arg-type]


def _message(event: object, source: AuditSource) -> etree._Element:
    return etree.fromstring(to_atna_xml(_stored(event), source))


def _assert_structure(message: etree._Element) -> None:
    assert message.tag == "AuditMessage"
    tags = [child.tag for child in message]
    assert tags[0] == "EventIdentification"
    assert tags.count("EventIdentification") == 1
    ranks = [TOP_ORDER.index(tag) for tag in tags]
    assert ranks == sorted(ranks), tags
    assert tags.count("AuditSourceIdentification") == 1
    assert "ActiveParticipant" in tags
    event = message.find("EventIdentification")
    assert event is not None
    assert event.get("EventOutcomeIndicator") in ("0", "4", "8", "12")
    assert event.get("EventActionCode") in ("C", "R", "U", "D", "E")
    assert event[0].tag == "EventID"
    assert event[0].get("codeSystemName") == "DCM"
    for participant in message.iter("ActiveParticipant"):
        assert participant.get("UserID")
        assert participant.get("UserIsRequestor") in ("true", "false")
    for obj in message.iter("ParticipantObjectIdentification"):
        assert obj[0].tag == "ParticipantObjectIDTypeCode"
        assert obj.get("ParticipantObjectTypeCode") in ("1", "2")
        assert obj.get("ParticipantObjectID")


@pytest.mark.parametrize("path", sorted(PATHS))
def test_every_path_has_the_audit_message_structure(path: str, source: AuditSource) -> None:
    _assert_structure(_message(PATHS[path], source))


def test_iti55_query_message(source: AuditSource) -> None:
    message = _message(iti55(), source)
    event = message.find("EventIdentification")
    assert event is not None
    assert (event.get("EventActionCode"), event.find("EventID").get("csd-code")) == ("E", "110112")  # type: ignore[union-attr]
    type_code = event.find("EventTypeCode")
    assert type_code is not None
    assert (type_code.get("csd-code"), type_code.get("codeSystemName")) == (
        "ITI-55",
        "IHE Transactions",
    )
    assert event.find("PurposeOfUse").get("csd-code") == "TREATMENT"  # type: ignore[union-attr]
    roles = {
        p.find("RoleIDCode").get("csd-code"): p
        for p in message.iter("ActiveParticipant")
        if p.find("RoleIDCode") is not None
    }
    assert roles["110153"].get("UserIsRequestor") == "true"
    assert roles["110152"].get("UserID") == "https://gw.example.org/xcpd/iti55"
    assert roles["110152"].get("NetworkAccessPointID") == "gw.example.org"
    human = roles["112247003"]
    assert (human.get("UserID"), human.get("UserName"), human.get("AlternativeUserID")) == (
        "dr.house",
        "Gregory House",
        "1234567893",
    )
    objects = list(message.iter("ParticipantObjectIdentification"))
    patients = [
        o
        for o in objects
        if (o.get("ParticipantObjectTypeCode"), o.get("ParticipantObjectTypeCodeRole")) == ("1", "1")
    ]
    assert LOCAL.cx in [p.get("ParticipantObjectID") for p in patients]
    (query,) = [o for o in objects if o.get("ParticipantObjectTypeCodeRole") == "24"]
    assert FAMILY_NAME in base64.b64decode(query.findtext("ParticipantObjectQuery") or "").decode()
    details = {
        d.get("type"): base64.b64decode(d.get("value") or "").decode()
        for d in query.iter("ParticipantObjectDetail")
    }
    assert details["ihe:homeCommunityID"] == REMOTE_COMMUNITY


def test_iti38_query_carries_the_stored_query_id(source: AuditSource) -> None:
    message = _message(iti38(), source)
    (query,) = [
        o
        for o in message.iter("ParticipantObjectIdentification")
        if o.get("ParticipantObjectTypeCodeRole") == "24"
    ]
    assert query.get("ParticipantObjectID") == "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    assert query.find("ParticipantObjectIDTypeCode").get("csd-code") == "ITI-38"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("direction", "event_id", "action"),
    [(Direction.INITIATING, "110107", "C"), (Direction.RESPONDING, "110106", "R")],
)
def test_iti39_import_and_export(
    direction: Direction, event_id: str, action: str, source: AuditSource
) -> None:
    message = _message(iti39(direction), source)
    event = message.find("EventIdentification")
    assert event is not None
    assert event.get("EventActionCode") == action
    assert event.find("EventID").get("csd-code") == event_id  # type: ignore[union-attr]
    documents = [
        o
        for o in message.iter("ParticipantObjectIdentification")
        if o.get("ParticipantObjectTypeCodeRole") == "3"
    ]
    assert [d.get("ParticipantObjectID") for d in documents] == ["1.2.3.4.100", "1.2.3.4.101"]
    details = {d.get("type") for d in documents[0].iter("ParticipantObjectDetail")}
    assert details == {"Repository Unique Id", "ihe:homeCommunityID"}


def test_refusal_is_a_security_alert(source: AuditSource) -> None:
    message = _message(refusal(RefusalReason.BAD_SIGNATURE), source)
    event = message.find("EventIdentification")
    assert event is not None
    assert event.get("EventOutcomeIndicator") == "8"
    assert event.find("EventID").get("csd-code") == "110113"  # type: ignore[union-attr]
    assert [t.get("csd-code") for t in event.iter("EventTypeCode")] == ["110126", "ITI-55"]
    assert event.findtext("EventOutcomeDescription") == "HG-3106"


def test_matches_the_shape_of_a_real_iti55_audit_message(shared_dir: Path, source: AuditSource) -> None:
    sample = etree.parse(str(shared_dir / "ihe" / "samples" / "ipf__atna_audit_iti55__xcpd.xml")).getroot()
    ours = _message(iti55(), source)

    def shape(root: etree._Element) -> set[tuple[str, ...]]:
        return {
            (el.getparent().tag if el.getparent() is not None else "", el.tag, *sorted(el.attrib))
            for el in root.iter()
        }  # type: ignore[union-attr]

    missing = shape(sample) - shape(ours)
    # Everything the real message has, ours has too (empty EventOutcomeDescription aside).
    assert {m for m in missing if m[1] != "EventOutcomeDescription"} == set()


def test_export_file_is_one_document(source: AuditSource) -> None:
    out = io.BytesIO()
    assert write_atna([_stored(e) for e in PATHS.values()], out, source) == len(PATHS)
    root = etree.fromstring(out.getvalue())
    assert root.tag == "AuditMessages"
    assert len(root) == len(PATHS)
    for message in root:
        _assert_structure(message)
