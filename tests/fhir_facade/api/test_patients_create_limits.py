"""``POST /Patient`` against large and ill-typed bodies: caps on repeating elements, checks in a cheap
order, a linear duplicate-identifier check, validation off the event loop, and 400 (never 500) for an
element of the wrong JSON type."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from fhir_facade.api.patients import resource, routes
from fhir_facade.api.patients.resource import (
    MAX_ADDRESS_LINES,
    MAX_ADDRESSES,
    MAX_IDENTIFIERS,
    MAX_NAME_PARTS,
    MAX_NAMES,
    MAX_TELECOMS,
    parse_patient,
)
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json

Path = tuple[str | int, ...]


def _create(api: Api, client: Registered, body: dict[str, Any]) -> Any:
    return api.http.post("/Patient", json=body, headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key})


def _entries(element: str, count: int) -> list[Any]:
    if element == "identifier":
        return [{"system": "http://clinic-a.example/mrn", "value": f"A-{index}"} for index in range(count)]
    if element == "name":
        return [{"family": f"Lovelace{index}", "given": ["Ada"]} for index in range(count)]
    if element == "telecom":
        return [{"system": "phone", "value": f"+1-555-{index:04d}"} for index in range(count)]
    return [{"line": [f"{index} Analytical St"], "city": "London"} for index in range(count)]


def _body_with(path: Path, count: int) -> dict[str, Any]:
    """The sample Patient with ``count`` entries at ``path`` (a repeating element or one nested in the first
    name or address)."""
    body = patient_json()
    if len(path) == 1:
        body[str(path[0])] = _entries(str(path[0]), count)
    else:
        parent: dict[str, Any] = body[str(path[0])][0]
        parent[str(path[2])] = [f"Part{index}" for index in range(count)]
    return body


def _fhirpath(path: Path) -> str:
    return "Patient" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


LIMITS: list[tuple[Path, int]] = [
    (("identifier",), MAX_IDENTIFIERS),
    (("name",), MAX_NAMES),
    (("telecom",), MAX_TELECOMS),
    (("address",), MAX_ADDRESSES),
    (("name", 0, "given"), MAX_NAME_PARTS),
    (("name", 0, "prefix"), MAX_NAME_PARTS),
    (("name", 0, "suffix"), MAX_NAME_PARTS),
    (("address", 0, "line"), MAX_ADDRESS_LINES),
]


@pytest.mark.parametrize(("path", "limit"), LIMITS, ids=[_fhirpath(path) for path, _ in LIMITS])
def test_repeating_elements_are_capped(api: Api, alice: Registered, path: Path, limit: int) -> None:
    over = _create(api, alice, _body_with(path, limit + 1))
    assert over.status_code == 400, over.text
    issue = over.json()["issue"][0]
    assert issue["expression"] == [_fhirpath(path)]
    assert issue["code"] == "too-long"
    assert str(limit) in issue["diagnostics"]
    at_limit = _create(api, alice, _body_with(path, limit))
    assert at_limit.status_code == 201, at_limit.text


def test_caps_are_checked_before_any_element(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _body_with(("identifier",), MAX_IDENTIFIERS + 1)
    body.pop("birthDate")
    read: list[object] = []
    monkeypatch.setattr(resource, "_text", lambda value, where: read.append(value) or value)
    with pytest.raises(resource.InvalidRequestError) as caught:
        parse_patient(body, assigning_authority="1.2.3")
    assert caught.value.expression == ("Patient.identifier",)
    assert read == []


def test_required_single_elements_are_checked_before_repeating_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _body_with(("identifier",), MAX_IDENTIFIERS)
    body.pop("birthDate")
    systems: list[str] = []
    monkeypatch.setattr(resource, "store_system", lambda system: systems.append(system) or system)
    with pytest.raises(resource.BusinessRuleError) as caught:
        parse_patient(body, assigning_authority="1.2.3")
    assert caught.value.expression == ("Patient.birthDate",)
    assert systems == []


class _CountingStr(str):
    """A string that counts the equality tests made on it."""

    compared = 0

    def __eq__(self, other: object) -> bool:
        type(self).compared += 1
        return str.__eq__(self, other)

    __hash__ = str.__hash__


def test_repeated_identifiers_are_found_without_comparing_every_pair() -> None:
    _CountingStr.compared = 0
    identifiers = [
        {"system": _CountingStr("http://clinic-a.example/mrn"), "value": _CountingStr(f"A-{index}")}
        for index in range(MAX_IDENTIFIERS)
    ]
    body = {**patient_json(), "identifier": identifiers}
    parsed = parse_patient(body, assigning_authority="1.2.3")
    assert len(parsed.identifiers) == MAX_IDENTIFIERS
    assert _CountingStr.compared <= 2 * MAX_IDENTIFIERS  # a list scan makes ~n²/2 comparisons
    repeated = {**patient_json(), "identifier": [*identifiers, dict(identifiers[3])][1:]}
    with pytest.raises(resource.InvalidRequestError) as caught:
        parse_patient(repeated, assigning_authority="1.2.3")
    assert caught.value.expression == (f"Patient.identifier[{MAX_IDENTIFIERS - 1}]",)


def test_the_body_is_validated_off_the_event_loop(
    api: Api, alice: Registered, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_loop: list[bool] = []

    def spy(data: Any, *, assigning_authority: str) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            on_loop.append(False)
        else:
            on_loop.append(True)
        return parse_patient(data, assigning_authority=assigning_authority)

    monkeypatch.setattr(routes, "parse_patient", spy)
    assert _create(api, alice, patient_json()).status_code == 201
    assert on_loop == [False]


_STRINGS: list[Path] = [
    ("gender",),
    ("birthDate",),
    ("identifier", 0, "system"),
    ("identifier", 0, "value"),
    ("name", 0, "family"),
    ("name", 0, "use"),
    ("name", 0, "text"),
    ("name", 0, "given", 0),
    ("name", 0, "prefix", 0),
    ("name", 0, "suffix", 0),
    ("telecom", 0, "system"),
    ("telecom", 0, "value"),
    ("telecom", 0, "use"),
    ("address", 0, "line", 0),
    ("address", 0, "city"),
    ("address", 0, "state"),
    ("address", 0, "postalCode"),
    ("address", 0, "country"),
    ("address", 0, "use"),
]
_ARRAYS: list[Path] = [
    ("identifier",),
    ("name",),
    ("telecom",),
    ("address",),
    ("name", 0, "given"),
    ("name", 0, "prefix"),
    ("name", 0, "suffix"),
    ("address", 0, "line"),
]
_OBJECTS: list[Path] = [("identifier", 0), ("name", 0), ("telecom", 0), ("address", 0)]
_NOT_STRINGS: list[Any] = [["male"], {"code": "male"}, 1, 1.5, True]
_NOT_ARRAYS: list[Any] = ["x", {"0": "x"}, 1, True]
_NOT_OBJECTS: list[Any] = ["x", ["x"], 1, True]
WRONG_TYPES: list[tuple[Path, Any]] = [
    *((path, value) for path in _STRINGS for value in _NOT_STRINGS),
    *((path, value) for path in _ARRAYS for value in _NOT_ARRAYS),
    *((path, value) for path in _OBJECTS for value in _NOT_OBJECTS),
]


def _set(body: dict[str, Any], path: Path, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    changed.setdefault("name", [{}])[0].setdefault("prefix", ["Dr"])
    changed["name"][0].setdefault("suffix", ["PhD"])
    changed["name"][0].setdefault("text", "Ada Lovelace")
    changed["address"][0].update(state="LDN", country="GB")
    target: Any = changed
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return changed


@pytest.mark.parametrize(
    ("path", "value"), WRONG_TYPES, ids=[f"{_fhirpath(path)}={value!r}" for path, value in WRONG_TYPES]
)
def test_elements_of_the_wrong_type_are_400(path: Path, value: Any) -> None:
    with pytest.raises(resource.InvalidRequestError) as caught:
        parse_patient(_set(patient_json(), path, value), assigning_authority="1.2.3")
    assert caught.value.status == 400
    assert _fhirpath(path).startswith(caught.value.expression[0])


@pytest.mark.parametrize("gender", [["male"], {"code": "male"}])  # the parser's test above covers the rest
def test_a_gender_that_is_not_a_string_names_the_codes(api: Api, alice: Registered, gender: Any) -> None:
    body = {
        "resourceType": "Patient",
        "name": [{"family": "Zed"}],
        "gender": gender,
        "birthDate": "1980-01-01",
    }
    response = _create(api, alice, body)
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Patient.gender"]
    assert "male, female, other or unknown" in issue["diagnostics"]
