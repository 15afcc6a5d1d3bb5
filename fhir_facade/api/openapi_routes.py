"""What the OpenAPI document says about each route beyond what :mod:`.openapi` reads from the app itself.

:mod:`.openapi` derives most of an operation from the route: its search parameters from the
:class:`~fhir_facade.api.routing.FhirEndpoint` it declares, its security and the scope it needs, ``_format``,
406 and the authentication errors from its dependencies, 404 from its path parameters. This module holds the
rest, what only the handler's code knows: the request body, the request headers it reads, the successful
answers with their media types and headers, and the errors it raises itself. A search or read of the
consolidated record needs no entry (:func:`route_doc` answers from the interaction); every other route has
one, and a test checks that each route of the app is described.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from fhir_facade.api.http import FHIR_JSON, FHIR_NDJSON, JSON, MAX_BODY
from fhir_facade.api.openapi_schemas import ref, resource_schema
from fhir_facade.api.patients.resource import VERSION_ID
from fhir_facade.api.routing import FhirEndpoint, Interaction

__all__ = ["PATH_PARAMETERS", "Answer", "HeaderParam", "RequestBody", "RouteDoc", "route_doc"]

_JSON_BODY_TYPES: Final = (FHIR_JSON, JSON, "application/json+fhir")


@dataclass(frozen=True, slots=True)
class Answer:
    """One response of a route: ``media`` ``None`` is FHIR JSON as the route negotiates it, ``()`` no body."""

    description: str
    schema: Mapping[str, Any] | None = None
    media: tuple[str, ...] | None = None
    headers: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HeaderParam:
    """A request header the route reads."""

    name: str
    description: str
    required: bool = False
    example: str | None = None


@dataclass(frozen=True, slots=True)
class RequestBody:
    """The request body: its schema, the media types accepted, an example."""

    description: str
    schema: Mapping[str, Any]
    media: tuple[str, ...] = _JSON_BODY_TYPES
    example: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RouteDoc:
    """The handler's part of one operation.

    ``errors``: statuses the handler raises itself (beyond those derived from the route), with an optional
    note each; ``prefer``: the ``Prefer`` tokens it reads; ``paged`` / ``counts_total``: whether ``_count``
    and ``_cursor`` / ``_total=accurate`` act; ``scopes_any``: a scope check made in the handler (any one);
    ``oauth_errors``: its 400 and 401 are RFC 6749 JSON (the token endpoint); ``database``: it can be 503.
    """

    answers: Mapping[int, Answer]
    description: str = ""
    tag: str | None = None
    errors: Mapping[int, str] = field(default_factory=dict)
    body: RequestBody | None = None
    headers: tuple[HeaderParam, ...] = ()
    prefer: tuple[str, ...] = ()
    prefer_required: bool = False
    paged: bool = False
    counts_total: bool = False
    scopes_any: tuple[str, ...] = ()
    oauth_errors: bool = False
    database: bool = True


PATH_PARAMETERS: Final = {
    "patient_id": ("Logical id of a Patient of the caller's organization, exactly as issued", None),
    "version_id": (f"Version id: a patient's only version is {VERSION_ID}", VERSION_ID),
    "resource_id": ("Logical id of a resource of a patient's consolidated record", None),
    "audit_id": ("AuditEvent id as the search returns it (audit-{tenant}-{sequence number})", None),
    "job_id": ("Pull job id, from the Content-Location of POST /Patient/{id}/$pull", None),
    "export_id": ("Export id, from the Content-Location of the export kick-off", None),
    "file_id": ("File number, from the url of the manifest's output entry", None),
    "group_id": ("Group id: the only group is 'all' (every patient of the organization)", "all"),
    "binary_id": ("Binary id, from a DocumentReference's attachment url (Binary/{id})", None),
}
"""Description and example of each path parameter, by name."""

_FHIR_RESULT: Final = ("ETag", "Last-Modified", "Location")
_POLL: Final = ("Retry-After", "X-Progress")
_NO_STORE: Final = ("Cache-Control", "Pragma")
_PATIENT_BODY: Final = RequestBody(
    f"A FHIR R4 Patient as UTF-8 JSON (at most {MAX_BODY} bytes)",
    resource_schema("Patient"),
    example={
        "resourceType": "Patient",
        "identifier": [{"system": "http://clinic.example/mrn", "value": "A-1001"}],
        "name": [{"family": "Lovelace", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "1980-12-10",
    },
)
_PULL_BODY: Final = RequestBody(
    "A FHIR Parameters resource: purposeOfUse (required, once: valueCode, valueCoding or valueString, an "
    "NHIN or TEFCA purpose of use, the one the client is registered for), period (optional, once: "
    "valuePeriod of document creation dates YYYY-MM-DD), gateway (optional, repeated: a homeCommunityId as "
    "valueUri urn:oid:..., valueOid, valueString or valueIdentifier; else the whole directory is asked)",
    ref("Parameters"),
    example={
        "resourceType": "Parameters",
        "parameter": [
            {"name": "purposeOfUse", "valueCode": "TREATMENT"},
            {"name": "period", "valuePeriod": {"start": "2020-01-01", "end": "2025-12-31"}},
            {"name": "gateway", "valueUri": "urn:oid:1.3.6.1.4.1.21367.13.20.1000"},
        ],
    },
)
_ACCEPTED: Final = Answer("Accepted: an informational OperationOutcome", ref("OperationOutcome"))
_EXPORT: Final = RouteDoc(
    {202: Answer(_ACCEPTED.description, _ACCEPTED.schema, (FHIR_JSON,), ("Content-Location",))},
    description="Poll the Content-Location status URL. The types exported are those asked (_type) or every "
    "type held, and those the token may read.",
    tag="Bulk Data",
    errors={
        400: "Prefer: respond-async is missing, or _type, _since or _outputFormat is not valid",
        403: "_type names a type the token may not read",
    },
    prefer=("respond-async",),
    prefer_required=True,
)
_PATIENT_RESULT: Final = Answer(
    "The Patient (no body with Prefer: return=minimal)", resource_schema("Patient"), headers=_FHIR_RESULT
)

_ROUTES: Final[Mapping[tuple[str, str], RouteDoc]] = {
    ("POST", "/auth/token"): RouteDoc(
        {200: Answer("An access token", ref("AccessToken"), (JSON,), _NO_STORE)},
        tag="Authorization",
        body=RequestBody(
            "The token request", ref("TokenRequest"), media=("application/x-www-form-urlencoded",)
        ),
        errors={
            400: "invalid_request (also a body that is not a form, or a repeated field), "
            "unsupported_grant_type or invalid_scope",
            401: "invalid_client: the client assertion is refused",
        },
        oauth_errors=True,
    ),
    ("GET", "/.well-known/smart-configuration"): RouteDoc(
        {200: Answer("The SMART configuration", ref("SmartConfiguration"), (JSON,))},
        tag="Authorization",
        database=False,
    ),
    ("GET", "/metadata"): RouteDoc(
        {200: Answer("The CapabilityStatement", resource_schema("CapabilityStatement"))},
        tag="Server",
        database=False,
    ),
    ("GET", "/Patient/$export"): _EXPORT,
    ("GET", "/Group/{group_id}/$export"): _EXPORT,
    ("GET", "/$export-status/{export_id}"): RouteDoc(
        {
            200: Answer("The export is complete: its manifest", ref("BulkManifest"), (JSON,)),
            202: Answer("The export is running", ref("OperationOutcome"), (FHIR_JSON,), _POLL),
        },
        tag="Bulk Data",
        errors={500: "the export failed"},
    ),
    ("DELETE", "/$export-status/{export_id}"): RouteDoc(
        {202: Answer("The export and its files are deleted", media=())}, tag="Bulk Data"
    ),
    ("GET", "/$export-file/{export_id}/{file_id}"): RouteDoc(
        {200: Answer("One NDJSON file of the export", ref("Ndjson"), (FHIR_NDJSON,))},
        tag="Bulk Data",
        errors={400: "file_id is not an integer"},
    ),
    ("POST", "/Patient"): RouteDoc(
        {
            201: Answer(
                "Created (no body with Prefer: return=minimal); Location reads it back",
                resource_schema("Patient"),
                headers=_FHIR_RESULT,
            ),
            200: Answer(
                "Conditional create: the one patient If-None-Exist matches",
                _PATIENT_RESULT.schema,
                headers=_FHIR_RESULT,
            ),
        },
        body=_PATIENT_BODY,
        headers=(
            HeaderParam(
                "If-None-Exist",
                "Conditional create: identifier=system|value (exactly one); an existing match is answered "
                "(200) instead of creating, several matches are 412",
                example="identifier=http://clinic.example/mrn|A-1001",
            ),
        ),
        prefer=("return=minimal",),
        errors={
            400: "the body is not a JSON object of resourceType Patient, or an element is not valid",
            409: "an identifier of this patient already belongs to another patient",
            412: "If-None-Exist matches more than one patient",
            413: f"the body is larger than {MAX_BODY} bytes (its Content-Length says so, or what arrived)",
            415: "the body is not application/fhir+json or application/json",
            422: "a required element is missing (a name with a family name, gender, a full "
            "birthDate), birthDate is in the future, or the Patient has elements this server does not "
            "store",
        },
    ),
    ("GET", "/Patient/{patient_id}"): RouteDoc({200: _PATIENT_RESULT}, prefer=("return=minimal",)),
    ("GET", "/Patient/{patient_id}/_history/{version_id}"): RouteDoc(
        {200: _PATIENT_RESULT}, prefer=("return=minimal",), errors={404: "any version but 1 is not known"}
    ),
    ("GET", "/Patient"): RouteDoc(
        {200: Answer("A searchset Bundle of Patients (no body with Prefer: return=minimal)", ref("Bundle"))},
        prefer=("return=minimal",),
        paged=True,
        errors={400: "more than 50 values for one parameter, or a value that cannot be searched with"},
    ),
    ("GET", "/AuditEvent"): RouteDoc(
        {200: Answer("A searchset Bundle of AuditEvents, newest first", ref("Bundle"))},
        paged=True,
        counts_total=True,
        errors={
            400: "more than 50 values for one parameter, a repeated parameter other than date, or a "
            "value that cannot be searched with"
        },
    ),
    ("GET", "/AuditEvent/$export"): RouteDoc(
        {200: Answer("Every matching AuditEvent, oldest first, one per line", ref("Ndjson"), (FHIR_NDJSON,))},
        errors={
            400: "more than 50 values for one parameter, a repeated parameter other than date, or a "
            "value that cannot be searched with"
        },
    ),
    ("GET", "/Patient/{patient_id}/$disclosures"): RouteDoc(
        {
            200: Answer(
                "The accounting of disclosures: one disclosure parameter per exchange", ref("Parameters")
            )
        }
    ),
    ("GET", "/Patient/{patient_id}/$everything"): RouteDoc(
        {200: Answer("A searchset Bundle: the patient and the record's resources", ref("Bundle"))},
        paged=True,
        errors={403: "_type names a type the token may not read"},
    ),
    ("GET", "/Binary/{binary_id}"): RouteDoc(
        {
            200: Answer(
                "The original document with its own content type (C-CDA XML, PDF...); a Binary resource "
                "(base64 data) when Accept includes application/fhir+json",
                {"type": "string", "format": "binary"},
                ("*/*", FHIR_JSON),
            )
        },
        scopes_any=("system/Binary.r", "system/DocumentReference.r"),
    ),
    ("POST", "/Patient/{patient_id}/$pull"): RouteDoc(
        {
            202: Answer(
                "Accepted (or the same pull already running for this client): poll Content-Location",
                ref("OperationOutcome"),
                headers=("Content-Location", "Retry-After"),
            )
        },
        tag="Pull",
        body=_PULL_BODY,
        errors={
            400: "the Parameters body is not valid, or a gateway it names is not one the pull can ask",
            403: "purposeOfUse is not the one the client is registered for",
            413: f"the body is larger than {MAX_BODY} bytes (its Content-Length says so, or what arrived)",
            415: "the body is not application/fhir+json or application/json",
        },
    ),
    ("GET", "/$pull-status/{job_id}"): RouteDoc(
        {
            200: Answer(
                "The job is done: a Parameters of its counts and each gateway's outcome", ref("Parameters")
            ),
            202: Answer(
                "The job is running: a Parameters of its progress so far", ref("Parameters"), headers=_POLL
            ),
        },
        tag="Pull",
        errors={
            404: "no such job, or it was cancelled",
            500: "the pull failed (the error code it stopped with)",
        },
    ),
    ("DELETE", "/$pull-status/{job_id}"): RouteDoc(
        {202: Answer("Cancelled: no new request goes to any gateway", ref("OperationOutcome"))},
        tag="Pull",
        errors={
            404: "no such job, or it was already cancelled",
            409: "the job is already done or failed: what was pulled stays",
        },
    ),
}


def route_doc(method: str, path: str, endpoint: FhirEndpoint | None) -> RouteDoc | None:
    """The handler's part of ``method path`` (``None``: the route is not described)."""
    found = _ROUTES.get((method, path))
    if found is not None or endpoint is None or endpoint.resource_type is None:
        return found
    name = endpoint.resource_type
    if endpoint.interaction is Interaction.READ:
        return RouteDoc({200: Answer(f"The {name}", resource_schema(name))})
    if endpoint.interaction is Interaction.SEARCH_TYPE:
        return RouteDoc(
            {200: Answer(f"A searchset Bundle of the patient's {name} resources", ref("Bundle"))},
            paged=True,
            errors={400: "patient is missing, repeated or a list"},
        )
    return None
