"""Responding side: stored-query parameters of FindDocuments and GetDocuments read into models, with the
registry errors a Responding Gateway returns (IHE ITI TF-2a 3.18.4.1.2.3, 3.18.4.1.3; TF-2b 3.38.4.1.3).

Problems become :class:`~xca.registry.RegistryError` values, never exceptions: a missing required parameter
is ``XDSStoredQueryMissingParam``, a single-valued parameter with several values
``XDSStoredQueryParamNumber``, and a value that does not follow the stored-query syntax (unquoted string,
unterminated quote, code without scheme, patient id not ``ID^^^&OID&ISO``) ``XDSRegistryError``. Error
contexts name the parameter only; values (patient ids) are never echoed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from xca.errors import InvalidValueError
from xca.iti38.constants import AvailabilityStatus, EntryType, QueryParam, Quirk
from xca.iti38.dtm import Dtm
from xca.iti38.identifiers import require_query_cx
from xca.iti38.models import Code, FindDocumentsQuery, GetDocumentsQuery
from xca.iti38.slots import Token, parse_value
from xca.registry import RegistryError, XdsErrorCode

__all__ = ["ParamReader"]

_T = TypeVar("_T")

_FIND_PARAMS = frozenset(QueryParam) - {QueryParam.ENTRY_UUID, QueryParam.UNIQUE_ID}
_GET_PARAMS = frozenset({QueryParam.ENTRY_UUID, QueryParam.UNIQUE_ID, "$homeCommunityId"})


class ParamReader:
    """Reads the slots of one AdhocQuery; collects ``errors`` and ``quirks`` as it goes."""

    def __init__(self, slots: dict[str, list[str]]) -> None:
        self._slots = slots
        self.errors: list[RegistryError] = []
        self.quirks: list[Quirk] = []

    # --- the two stored queries ---------------------------------------------------------------------

    def find_documents(self) -> FindDocumentsQuery | None:
        self._note_unknown(_FIND_PARAMS)
        patient = self._single(QueryParam.PATIENT_ID, required=True, quoted=True)
        patient_id = self._convert(QueryParam.PATIENT_ID, patient, require_query_cx)
        statuses = self._statuses()
        codes = {
            param: self._codes(param)
            for param in (
                QueryParam.CLASS_CODE,
                QueryParam.TYPE_CODE,
                QueryParam.PRACTICE_SETTING_CODE,
                QueryParam.HEALTHCARE_FACILITY_TYPE_CODE,
                QueryParam.FORMAT_CODE,
            )
        }
        events = self._code_groups(QueryParam.EVENT_CODE_LIST)
        confidentiality = self._code_groups(QueryParam.CONFIDENTIALITY_CODE)
        persons = tuple(t.text for t in self._multi(QueryParam.AUTHOR_PERSON) or ())
        times = {param: self._time(param) for param in _TIME_PARAMS}
        entry_types = self._entry_types()
        if self.errors or patient_id is None:
            return None
        return FindDocumentsQuery(
            patient_id=patient_id,
            statuses=statuses,
            class_codes=codes[QueryParam.CLASS_CODE],
            type_codes=codes[QueryParam.TYPE_CODE],
            practice_setting_codes=codes[QueryParam.PRACTICE_SETTING_CODE],
            healthcare_facility_type_codes=codes[QueryParam.HEALTHCARE_FACILITY_TYPE_CODE],
            format_codes=codes[QueryParam.FORMAT_CODE],
            event_codes=events,
            confidentiality_codes=confidentiality,
            author_persons=persons,
            creation_time_from=times[QueryParam.CREATION_TIME_FROM],
            creation_time_to=times[QueryParam.CREATION_TIME_TO],
            service_start_time_from=times[QueryParam.SERVICE_START_TIME_FROM],
            service_start_time_to=times[QueryParam.SERVICE_START_TIME_TO],
            service_stop_time_from=times[QueryParam.SERVICE_STOP_TIME_FROM],
            service_stop_time_to=times[QueryParam.SERVICE_STOP_TIME_TO],
            entry_types=entry_types,
        )

    def get_documents(self) -> GetDocumentsQuery | None:
        self._note_unknown(_GET_PARAMS)
        has_uuids = bool(self._slots.get(QueryParam.ENTRY_UUID))
        has_unique_ids = bool(self._slots.get(QueryParam.UNIQUE_ID))
        if has_uuids and has_unique_ids:
            self._error(
                XdsErrorCode.STORED_QUERY_PARAM_NUMBER, QueryParam.ENTRY_UUID, "give entryUUIDs or uniqueIds"
            )
            return None
        param = QueryParam.ENTRY_UUID if has_uuids else QueryParam.UNIQUE_ID
        tokens = self._multi(param, required=True)
        if tokens is None or self.errors:
            return None
        values = tuple(t.text for t in tokens)
        if param is QueryParam.ENTRY_UUID:
            return GetDocumentsQuery(entry_uuids=values)
        return GetDocumentsQuery(unique_ids=values)

    # --- parameter kinds ----------------------------------------------------------------------------

    def _statuses(self) -> tuple[AvailabilityStatus, ...]:
        tokens = self._multi(QueryParam.STATUS, required=True)
        if tokens is None:
            return (AvailabilityStatus.APPROVED,)
        known = {s.value: s for s in AvailabilityStatus}
        statuses = tuple(known[t.text] for t in tokens if t.text in known)
        if len(statuses) < len(tokens):
            self.quirks.append(Quirk.UNKNOWN_STATUS_VALUE)
        if not statuses:
            self._error(XdsErrorCode.REGISTRY_ERROR, QueryParam.STATUS, "no known status value")
            return (AvailabilityStatus.APPROVED,)
        return statuses

    def _entry_types(self) -> tuple[EntryType, ...]:
        known = {t.value: t for t in EntryType}
        tokens = self._multi(QueryParam.ENTRY_TYPE) or ()
        types = tuple(known[t.text.lower()] for t in tokens if t.text.lower() in known)
        if len(types) < len(tokens):
            self.quirks.append(Quirk.UNKNOWN_ENTRY_TYPE_VALUE)
        return types

    def _codes(self, param: QueryParam) -> tuple[Code, ...]:
        codes = (self._convert(param, t, _read_code) for t in self._multi(param) or ())
        return tuple(c for c in codes if c is not None)

    def _code_groups(self, param: QueryParam) -> tuple[tuple[Code, ...], ...]:
        groups: list[tuple[Code, ...]] = []
        for raw in self._slots.get(param, []):
            tokens = self._parse(param, raw, quoted=True)
            codes = (self._convert(param, t, _read_code) for t in tokens or ())
            group = tuple(c for c in codes if c is not None)
            if group:
                groups.append(group)
        return tuple(groups)

    def _time(self, param: QueryParam) -> Dtm | None:
        token = self._single(param, required=False, quoted=False)
        if token is not None and token.quoted:
            self.quirks.append(Quirk.NUMBER_QUOTED)
        return self._convert(param, token, Dtm.parse)

    # --- slot mechanics -----------------------------------------------------------------------------

    def _single(self, param: QueryParam, *, required: bool, quoted: bool) -> Token | None:
        values = self._slots.get(param, [])
        if not values:
            if required:
                self._error(XdsErrorCode.STORED_QUERY_MISSING_PARAM, param, "required parameter is missing")
            return None
        if len(values) > 1:
            self._error(XdsErrorCode.STORED_QUERY_PARAM_NUMBER, param, "single-valued parameter repeated")
            return None
        tokens = self._parse(param, values[0], quoted=quoted, single=True)
        if tokens is None:
            return None
        if len(tokens) > 1:
            self._error(XdsErrorCode.STORED_QUERY_PARAM_NUMBER, param, "single-valued parameter has a list")
            return None
        return tokens[0]

    def _multi(self, param: QueryParam, *, required: bool = False) -> list[Token] | None:
        values = self._slots.get(param, [])
        if not values:
            if required:
                self._error(XdsErrorCode.STORED_QUERY_MISSING_PARAM, param, "required parameter is missing")
            return None
        tokens: list[Token] = []
        for raw in values:
            parsed = self._parse(param, raw, quoted=True)
            if parsed is None:
                return None
            tokens.extend(parsed)
        return tokens

    def _parse(
        self, param: QueryParam, raw: str, *, quoted: bool, single: bool = False
    ) -> list[Token] | None:
        try:
            parsed = parse_value(raw)
        except InvalidValueError as exc:
            self._error(XdsErrorCode.REGISTRY_ERROR, param, exc.message)
            return None
        if quoted and not all(t.quoted for t in parsed.items):
            self._error(XdsErrorCode.REGISTRY_ERROR, param, "string values must be in single quotes")
            return None
        if single and parsed.is_list and len(parsed.items) == 1:
            self.quirks.append(Quirk.SINGLE_VALUE_AS_LIST)
        return list(parsed.items)

    def _convert(self, param: QueryParam, token: Token | None, read: Callable[[str], _T]) -> _T | None:
        if token is None:
            return None
        try:
            return read(token.text)
        except InvalidValueError as exc:
            self._error(XdsErrorCode.REGISTRY_ERROR, param, exc.message)
            return None

    def _note_unknown(self, known: frozenset[str]) -> None:
        if any(name not in known for name in self._slots):
            self.quirks.append(Quirk.UNKNOWN_PARAMETER)

    def _error(self, code: XdsErrorCode, param: QueryParam, message: str) -> None:
        self.errors.append(RegistryError(code.value, f"{param.value}: {message}"))


_TIME_PARAMS = (
    QueryParam.CREATION_TIME_FROM,
    QueryParam.CREATION_TIME_TO,
    QueryParam.SERVICE_START_TIME_FROM,
    QueryParam.SERVICE_START_TIME_TO,
    QueryParam.SERVICE_STOP_TIME_FROM,
    QueryParam.SERVICE_STOP_TIME_TO,
)


def _read_code(text: str) -> Code:
    parts = text.split("^")
    if len(parts) != 3 or parts[1] or not parts[0].strip() or not parts[2].strip():
        raise InvalidValueError("code value is not in the form code^^scheme")
    return Code(code=parts[0], scheme=parts[2])
