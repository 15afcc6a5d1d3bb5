"""405 names every method the path answers (``Allow`` and the OperationOutcome), and ``HEAD`` is answered
wherever ``GET`` is: the same status and headers, no body."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/Patient", "GET, HEAD, POST"),
        ("PUT", "/metadata", "GET, HEAD"),
        ("PUT", "/$pull-status/job-1", "DELETE, GET, HEAD"),
        ("POST", "/Patient/$export", "GET, HEAD"),
        ("GET", "/Patient/p-1/$pull", "POST"),
        ("HEAD", "/auth/token", "POST"),
    ],
)
def test_405_allows_every_method_of_the_path(api: Api, method: str, path: str, allowed: str) -> None:
    response = api.http.request(method, path, headers=FHIR_JSON_HEADERS)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    if method != "HEAD":
        issue = response.json()["issue"][0]
        assert issue["diagnostics"] == f"{method} is not supported here (allowed: {allowed})"


def test_head_answers_like_get_without_a_body(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    get = api.http.get("/metadata", headers=FHIR_JSON_HEADERS)
    head = api.http.request("HEAD", "/metadata", headers=FHIR_JSON_HEADERS)
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"] == "application/fhir+json"
    assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))

    assert api.http.request("HEAD", "/Patient", headers=FHIR_JSON_HEADERS).status_code == 401
    client = api.register("header", rsa_key)
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    searched = api.http.request("HEAD", "/Patient?family=Lovelace", headers=headers)
    assert searched.status_code == 200
    assert searched.content == b""
    assert api.http.request("HEAD", "/Nothing", headers=headers).status_code == 404
