"""Request bodies the initiating side sends, built with the project's own xca builders."""

from __future__ import annotations

import datetime as dt
import uuid

from lxml import etree

from tests.gateway.responding.conftest import CALLER_HOME, HOME
from xca.ids import Cx
from xca.iti38 import FindDocumentsQuery, GetDocumentsQuery, Iti38Request, build_iti38_request
from xca.iti39 import DocumentRequest, build_iti39_request
from xca.iti55 import (
    Demographics,
    Device,
    Ii,
    Iti55Query,
    Iti55Request,
    ResponsePriority,
    build_iti55_request,
)


def iti55_body(
    demographics: Demographics, *, priority: ResponsePriority = ResponsePriority.IMMEDIATE
) -> etree._Element:
    request = Iti55Request(
        message_id=Ii(CALLER_HOME, uuid.uuid4().hex),
        creation_time=dt.datetime.now(dt.UTC).replace(microsecond=0),
        sender=Device(f"{CALLER_HOME}.1", CALLER_HOME),
        receiver=Device(f"{HOME}.1", HOME),
        query=Iti55Query(
            query_id=Ii(CALLER_HOME, uuid.uuid4().hex), demographics=demographics, priority=priority
        ),
        respond_to="https://caller.example/deferred" if priority is ResponsePriority.DEFERRED else None,
    )
    return build_iti55_request(request)


def find_documents_body(patient: Cx) -> etree._Element:
    return build_iti38_request(Iti38Request(FindDocumentsQuery(patient_id=patient), home_community_id=HOME))


def get_documents_body(unique_id: str) -> etree._Element:
    return build_iti38_request(
        Iti38Request(GetDocumentsQuery(unique_ids=(unique_id,)), home_community_id=HOME)
    )


def iti39_body(*documents: tuple[str, str, str]) -> etree._Element:
    return build_iti39_request(
        DocumentRequest(home, repository, unique) for home, repository, unique in documents
    )
