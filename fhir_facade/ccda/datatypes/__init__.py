"""HL7 v3 datatypes → FHIR datatypes, one module per family; each function takes an element and returns
JSON."""

from fhir_facade.ccda.datatypes.codes import code_of, coding, concept
from fhir_facade.ccda.datatypes.codesystems import system_uri
from fhir_facade.ccda.datatypes.contact import address, telecom
from fhir_facade.ccda.datatypes.identifiers import identifier, identifiers
from fhir_facade.ccda.datatypes.names import human_name, organization_name
from fhir_facade.ccda.datatypes.narrative import narrative_div, original_text, resolve_reference
from fhir_facade.ccda.datatypes.nullflavor import absent_reason, data_absent
from fhir_facade.ccda.datatypes.quantity import number, quantity, range_, ratio
from fhir_facade.ccda.datatypes.time import effective, parse_ts, period, to_date, to_instant, ts, ts_value

__all__ = [
    "absent_reason",
    "address",
    "code_of",
    "coding",
    "concept",
    "data_absent",
    "effective",
    "human_name",
    "identifier",
    "identifiers",
    "narrative_div",
    "number",
    "organization_name",
    "original_text",
    "parse_ts",
    "period",
    "quantity",
    "range_",
    "ratio",
    "resolve_reference",
    "system_uri",
    "telecom",
    "to_date",
    "to_instant",
    "ts",
    "ts_value",
]
