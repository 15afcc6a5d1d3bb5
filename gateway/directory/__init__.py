"""The directory of remote communities: import a Carequality-style FHIR directory (JSON or XML), keep it in
the database, choose the gateways a pull asks, and per-partner settings from a TOML file.

:func:`parse_directory` reads a file into :class:`Community` values; :func:`import_communities`,
:func:`list_communities` and :func:`get_community` keep them; :func:`select_gateways` applies a
:class:`SelectionSpec`; :func:`load_partners` reads the partners file into a :class:`PartnersConfig`
(:func:`partners_of`: the one the settings name).
"""

from gateway.directory.fhir_import import DirectoryFile, parse_directory, read_directory
from gateway.directory.models import (
    Community,
    DirectoryError,
    DirectoryFormatError,
    Endpoints,
    Location,
    TransactionKind,
    UnknownCommunityError,
    resolve_gateways,
)
from gateway.directory.partners import (
    PartnersConfig,
    PartnerSettings,
    load_partners,
    parse_partners,
    partners_of,
)
from gateway.directory.selection import (
    GeoPoint,
    SelectedGateway,
    Selection,
    SelectionSpec,
    SelectionStrategy,
    distance_km,
    select_gateways,
)
from gateway.directory.store import ImportResult, get_community, import_communities, list_communities

__all__ = [
    "Community",
    "DirectoryError",
    "DirectoryFile",
    "DirectoryFormatError",
    "Endpoints",
    "GeoPoint",
    "ImportResult",
    "Location",
    "PartnerSettings",
    "PartnersConfig",
    "SelectedGateway",
    "Selection",
    "SelectionSpec",
    "SelectionStrategy",
    "TransactionKind",
    "UnknownCommunityError",
    "distance_km",
    "get_community",
    "import_communities",
    "list_communities",
    "load_partners",
    "parse_directory",
    "parse_partners",
    "partners_of",
    "read_directory",
    "resolve_gateways",
    "select_gateways",
]
