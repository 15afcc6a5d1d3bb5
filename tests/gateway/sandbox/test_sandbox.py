"""The sandbox over real SOAP, signatures and mutual TLS: files, round trips, every fault mode, clean stop."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from pathlib import Path

import httpx
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.organization import Organization

from gateway.sandbox import FaultMode, Sandbox, SandboxConfig, run_sandbox
from gateway.sandbox.probe import SandboxProbe, demographics_of
from tests.gateway.sandbox.conftest import person_at
from xca.errors import HieGatewayError
from xca.iti55 import QueryResponseCode
from xca.registry import ResponseStatus, XdsErrorCode
from xca.soap import FaultCode, parse_envelope

TRANSACTIONS = {"XCPD ITI-55": "ihe-xcpd", "XCA ITI-38": "ihe-xca", "XCA ITI-39": "ihe-xca"}


def test_directory_is_a_fhir_bundle_of_carequality_organizations(small: Sandbox) -> None:
    data = json.loads(small.directory_path.read_text())
    bundle = Bundle.model_validate(data)
    assert bundle.type == "collection"
    assert len(data["entry"]) == 5
    metros = set()
    for entry, gateway in zip(data["entry"], small.gateways, strict=True):
        org = entry["resource"]
        Organization.model_validate(org)
        assert org["identifier"] == [
            {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{gateway.home_community_id}"}
        ]
        assert org["active"] is True
        assert org["name"] == gateway.organization_name
        (address,) = org["address"]
        geo = {e["url"]: e["valueDecimal"] for e in address["extension"][0]["extension"]}
        assert address["extension"][0]["url"] == "http://hl7.org/fhir/StructureDefinition/geolocation"
        assert 24 < geo["latitude"] < 50
        assert -125 < geo["longitude"] < -66
        metros.add(address["state"])
        contained = {e["id"]: e for e in org["contained"]}
        assert [r["reference"] for r in org["endpoint"]] == [f"#{i}" for i in contained]
        seen = {}
        for endpoint in contained.values():
            Endpoint.model_validate(endpoint)
            assert endpoint["status"] == "active"
            assert endpoint["payloadType"] == [{"text": "any"}]
            (extension,) = endpoint["extension"]
            assert extension["url"] == "https://sequoiaproject.org/fhir/sphd/StructureDefinition/Transaction"
            name = extension["valueString"]
            assert endpoint["connectionType"] == {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": TRANSACTIONS[name],
            }
            assert endpoint["address"].startswith(f"https://127.0.0.1:{gateway.port}/")
            seen[name] = endpoint["address"]
        assert seen == {
            "XCPD ITI-55": gateway.iti55_url, "XCA ITI-38": gateway.iti38_url, "XCA ITI-39": gateway.iti39_url
        }  # fmt: skip
    assert len(metros) == 5  # five gateways, five states


def test_patients_file_lists_who_to_try(small: Sandbox) -> None:
    listed = json.loads(small.patients_path.read_text())
    assert listed == small.patients
    assert len(listed) == 4
    for person in listed:
        assert set(person) >= {
            "label",
            "given",
            "family",
            "birth_date",
            "gender",
            "address",
            "phone",
            "expected",
        }
        assert person["gender"] in ("M", "F")
        expected = person["expected"]
        assert expected["gateways"] == list(expected["by_gateway"])
        assert expected["documents"] == sum(g["documents"] for g in expected["by_gateway"].values())
    decoys = json.loads(small.decoys_path.read_text())
    assert {d["kind"] for d in decoys} == {"twin", "namesake"}


def test_signed_round_trip_over_mutual_tls_finds_everything(small: Sandbox, probe: SandboxProbe) -> None:
    for person in small.patients:
        retrieved = 0
        for hcid, held in person["expected"]["by_gateway"].items():
            result = probe.pull(small.gateway(hcid), person)
            assert result.discovery.query_response_code is QueryResponseCode.OK
            assert result.query is not None
            assert result.query.status is ResponseStatus.SUCCESS
            assert len(result.entries) == held["documents"]
            assert result.retrieve is not None
            assert result.retrieve.status is ResponseStatus.SUCCESS
            assert {d.mime_type for d in result.retrieve.documents} == {"text/xml", "application/pdf"}
            pdf = bytes(
                next(d for d in result.retrieve.documents if d.mime_type == "application/pdf").content
            )
            assert pdf.startswith(b"%PDF-1.4")
            assert pdf.rstrip().endswith(b"%%EOF")
            retrieved += result.documents
        assert retrieved == person["expected"]["documents"]


def test_records_vary_between_organizations_and_decoys_never_match(
    small: Sandbox, probe: SandboxProbe
) -> None:
    assert small.population is not None
    assert any(r.variations for r in small.population.registrations if r.kind == "person")
    for decoy in small.decoys:
        person = next(p for p in small.patients if p["label"] == decoy["decoy_of"])
        (hcid,) = decoy["expected"]["gateways"]
        gateway = small.gateway(hcid)
        found = probe.discover(gateway, demographics_of(decoy))
        assert found.query_response_code is QueryResponseCode.OK
        decoy_id = found.matches[0].patient_id
        asked = probe.discover(gateway, demographics_of(person))
        assert all(m.patient_id != decoy_id for m in asked.matches)
        assert asked.matches or hcid not in person["expected"]["by_gateway"]


def test_latency_is_added_per_request(faulty: Sandbox, probe: SandboxProbe) -> None:
    person = faulty.patients[0]
    started = time.perf_counter()
    probe.discover(faulty.gateway("gw1"), demographics_of(person))
    assert time.perf_counter() - started >= 0.3
    # The other gateways answer without added delay (how fast is the machine's business, not asserted).
    assert faulty.gateway("gw1").latency != faulty.gateway("gw0").latency
    assert probe.discover(faulty.gateway("gw0"), demographics_of(person)).matches


def _iti55(probe: SandboxProbe, sandbox: Sandbox, label: str) -> tuple[bytes, str]:
    gateway = sandbox.gateway(label)
    return probe.iti55_request(gateway, demographics_of(person_at(sandbox, label))), gateway.iti55_url


def test_timeout_never_answers(faulty: Sandbox, probe: SandboxProbe) -> None:
    data, url = _iti55(probe, faulty, "gw2")
    with pytest.raises(httpx.ReadTimeout):
        probe.http.post(url, content=data, timeout=1.0)


def test_slow_drip_sends_a_few_bytes_per_second(faulty: Sandbox, probe: SandboxProbe) -> None:
    data, url = _iti55(probe, faulty, "gw3")
    received = 0
    started = time.perf_counter()
    with probe.http.stream("POST", url, content=data, timeout=2.0) as reply:
        assert reply.status_code == 200
        length = int(reply.headers["content-length"])
        for chunk in reply.iter_raw():
            received += len(chunk)
            if time.perf_counter() - started > 1.5:
                break
    assert 4 <= received <= 48 < length  # about 16 bytes per second


def test_http_500(faulty: Sandbox, probe: SandboxProbe) -> None:
    data, url = _iti55(probe, faulty, "gw4")
    reply = probe.post(url, data)
    assert reply.status_code == 500
    assert reply.headers["content-type"].startswith("text/html")


def test_soap_fault(faulty: Sandbox, probe: SandboxProbe) -> None:
    data, url = _iti55(probe, faulty, "gw5")
    reply = probe.post(url, data)
    assert reply.status_code == 500
    envelope = parse_envelope(reply.content)
    assert envelope.fault is not None
    assert envelope.fault.code is FaultCode.RECEIVER
    assert envelope.addressing.relates_to == parse_envelope(data).addressing.message_id


def test_registry_error_after_a_match(faulty: Sandbox, probe: SandboxProbe) -> None:
    gateway = faulty.gateway("gw6")
    result = probe.pull(gateway, person_at(faulty, "gw6"))
    assert result.discovery.query_response_code is QueryResponseCode.OK
    assert result.query is not None
    assert result.query.status is ResponseStatus.FAILURE
    assert [e.error_code for e in result.query.errors] == [XdsErrorCode.REGISTRY_ERROR.value]
    assert result.retrieve is None


def test_malformed_xml(faulty: Sandbox, probe: SandboxProbe) -> None:
    data, url = _iti55(probe, faulty, "gw7")
    reply = probe.post(url, data)
    assert reply.status_code == 200
    with pytest.raises(HieGatewayError):
        parse_envelope(reply.content)


def test_connection_reset(faulty: Sandbox, probe: SandboxProbe) -> None:
    data, url = _iti55(probe, faulty, "gw8")
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError)):
        probe.post(url, data)


@pytest.mark.parametrize(("label", "reason"), [("gw9", "unable to get local issuer"), ("gw10", "expired")])
def test_tls_faults(faulty: Sandbox, probe: SandboxProbe, label: str, reason: str) -> None:
    data, url = _iti55(probe, faulty, label)
    with pytest.raises(httpx.ConnectError) as caught:
        probe.post(url, data)
    cause = caught.value.__context__ or caught.value.__cause__
    assert isinstance(cause, ssl.SSLCertVerificationError) or "certificate verify failed" in str(caught.value)
    assert reason in str(caught.value)


def test_no_match(faulty: Sandbox, probe: SandboxProbe) -> None:
    result = probe.pull(faulty.gateway("gw11"), person_at(faulty, "gw11"))
    assert result.discovery.query_response_code is QueryResponseCode.NF
    assert not result.discovery.matches


def test_partial_retrieve(faulty: Sandbox, probe: SandboxProbe) -> None:
    gateway = faulty.gateway("gw12")
    person = person_at(faulty, "gw12")
    held = person["expected"]["by_gateway"][gateway.home_community_id]
    result = probe.pull(gateway, person)
    assert len(result.entries) == held["documents"] >= 2
    assert result.retrieve is not None
    assert result.retrieve.status is ResponseStatus.PARTIAL_SUCCESS
    assert result.documents == held["retrievable"] == (held["documents"] + 1) // 2
    missing = [e.error_code for e in result.retrieve.errors]
    assert missing == [XdsErrorCode.MISSING_DOCUMENT.value] * (held["documents"] - held["retrievable"])


def test_expected_counts_only_healthy_gateways(faulty: Sandbox) -> None:
    assert {g.label: g.fault for g in faulty.gateways if g.fault} == {
        f"gw{i}": mode for i, mode in zip(range(2, 13), list(FaultMode), strict=True)
    }
    for person in faulty.patients:
        by_gateway = person["expected"]["by_gateway"]
        healthy = sum(g["documents"] for g in by_gateway.values() if g["fault"] is None)
        assert person["expected"]["documents"] == healthy


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_start_and_stop_leave_nothing_behind(pki_dir: Path, tmp_path: Path) -> None:
    before = {t.ident for t in threading.enumerate()}
    config = SandboxConfig(gateways=3, patients=2, folder=tmp_path, certs_dir=pki_dir, faults="timeout:gw1")
    with SandboxProbe(pki_dir, timeout=5) as probe, run_sandbox(config) as sandbox:
        ports = [g.port for g in sandbox.gateways]
        person = sandbox.patients[0]
        probe.discover(sandbox.gateway("gw0"), demographics_of(person))
        errors: list[BaseException] = []

        def hang() -> None:
            gateway = sandbox.gateway("gw1")
            try:
                probe.post(gateway.iti55_url, probe.iti55_request(gateway, demographics_of(person)))
            except httpx.HTTPError as exc:
                errors.append(exc)

        hung = threading.Thread(target=hang)
        hung.start()
        time.sleep(0.3)  # a request hangs in the timeout gateway while the sandbox stops
    hung.join(timeout=10)
    assert not hung.is_alive()
    assert len(errors) == 1  # the hung request ended with the sandbox
    assert {t.ident for t in threading.enumerate()} == before
    assert all(_free(port) for port in ports)
    with pytest.raises(httpx.ConnectError), SandboxProbe(pki_dir, timeout=2) as probe:
        probe.http.get(f"https://127.0.0.1:{ports[0]}/xcpd")


def test_twenty_gateways_start_quickly_and_answer(pki_dir: Path, tmp_path: Path) -> None:
    config = SandboxConfig(gateways=20, patients=5, folder=tmp_path, certs_dir=pki_dir, documents=(1, 2))
    with run_sandbox(config) as sandbox, SandboxProbe(pki_dir) as probe:
        assert sandbox.timings["total"] < 20
        person = sandbox.patients[0]
        holders = set(person["expected"]["gateways"])
        for gateway in sandbox.gateways:
            found = probe.discover(gateway, demographics_of(person))
            assert bool(found.matches) == (gateway.home_community_id in holders)
