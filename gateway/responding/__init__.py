"""The responding gateway: answers the network's ITI-55, ITI-38 and ITI-39 about the clinic's own patients.

:func:`create_responding_app` builds the ASGI app of one :class:`RespondingGateway` (configured by a
:class:`RespondingConfig`); :class:`ResponderServer` serves it over mutual TLS on a background thread;
:func:`gateway_from_settings` wires one from the settings. The clinic's data: :func:`register_patient`,
:func:`add_document` with metadata from :func:`entry_from_ccda`.
"""

from gateway.responding.app import create_responding_app
from gateway.responding.ccda_metadata import DocumentDefaults, demographics_from_ccda, entry_from_ccda
from gateway.responding.config import EndpointPaths, RespondingConfig
from gateway.responding.context import HttpReply, InboundRequest
from gateway.responding.documents import add_document, find_documents, get_documents, list_documents, retrieve
from gateway.responding.gateway import RespondingGateway
from gateway.responding.patients import (
    LocalPatient,
    list_patients,
    patient_by_id,
    record_target_conflicts,
    register_patient,
)
from gateway.responding.server import (
    ResponderServer,
    config_from_settings,
    gateway_from_settings,
    listen_sockets,
    responder_ssl_context,
)

__all__ = [
    "DocumentDefaults",
    "EndpointPaths",
    "HttpReply",
    "InboundRequest",
    "LocalPatient",
    "ResponderServer",
    "RespondingConfig",
    "RespondingGateway",
    "add_document",
    "config_from_settings",
    "create_responding_app",
    "demographics_from_ccda",
    "entry_from_ccda",
    "find_documents",
    "gateway_from_settings",
    "get_documents",
    "list_documents",
    "list_patients",
    "listen_sockets",
    "patient_by_id",
    "record_target_conflicts",
    "register_patient",
    "responder_ssl_context",
    "retrieve",
]
