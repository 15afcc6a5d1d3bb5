"""Interoperability with Debian's ``xmlsec1`` (the xmlsec library's command line; independent of signxml).

Our signed requests must verify in xmlsec1, and messages signed by xmlsec1 must verify in our verifier.
Skipped with a reason when the command is missing (CI installs the ``xmlsec1`` package).
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from certs import CertificatePurpose
from gateway.security import IssuerConfig, build_assertion
from gateway.security.wss import SAMLID_VALUE_TYPE, add_timestamp, ensure_security_header
from tests.gateway.security.conftest import (
    AUDIENCE,
    HOME,
    Pki,
    Signer,
    assertion_spec,
    body_element,
    make_user,
)
from xca import errors, ns
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope

XMLSEC1 = shutil.which("xmlsec1")
pytestmark = pytest.mark.skipif(XMLSEC1 is None, reason="xmlsec1 is not installed (apt-get install xmlsec1)")

ASSERTION_ID = ["--id-attr:ID", f"{ns.SAML2}:Assertion"]
WSU_IDS = ["--id-attr:Id", f"{ns.WSU}:Timestamp", "--id-attr:Id", f"{ns.SOAP12}:Body"]
ASSERTION_SIGNATURE = ["--node-xpath", "//*[local-name()='Assertion']/*[local-name()='Signature']"]
MESSAGE_SIGNATURE = ["--node-xpath", "//*[local-name()='Security']/*[local-name()='Signature']"]
EXC = "http://www.w3.org/2001/10/xml-exc-c14n#"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(XMLSEC1), *args], capture_output=True, text=True, timeout=30, check=False)


def test_our_signatures_verify_in_xmlsec1(sign: Signer, pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "signed.xml"
    path.write_bytes(sign())
    ca = str(pki.layout.ca_certificate)
    signing = str(pki.layout.certificate(CertificatePurpose.SIGNING))
    assertion = _run("--verify", "--trusted-pem", ca, *ASSERTION_ID, *ASSERTION_SIGNATURE, str(path))
    assert assertion.returncode == 0, assertion.stderr
    message = _run("--verify", "--pubkey-cert-pem", signing, *WSU_IDS, *MESSAGE_SIGNATURE, str(path))
    assert message.returncode == 0, message.stderr
    assert "SignedInfo References (ok/all): 2/2" in message.stderr


def test_xmlsec1_rejects_a_tampered_message(sign: Signer, pki: Pki, tmp_path: Path) -> None:
    path = tmp_path / "tampered.xml"
    path.write_bytes(sign().replace(b">query<", b">other<"))
    signing = str(pki.layout.certificate(CertificatePurpose.SIGNING))
    assert (
        _run("--verify", "--pubkey-cert-pem", signing, *WSU_IDS, *MESSAGE_SIGNATURE, str(path)).returncode
        != 0
    )


def _ds(parent: etree._Element, local: str, **attrib: str) -> etree._Element:
    return etree.SubElement(parent, q(ns.DS, local), attrib)


def _signature_template(uris: list[str], *, enveloped: bool) -> etree._Element:
    signature = etree.Element(q(ns.DS, "Signature"), nsmap={"ds": ns.DS})
    info = _ds(signature, "SignedInfo")
    _ds(info, "CanonicalizationMethod", Algorithm=EXC)
    _ds(info, "SignatureMethod", Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256")
    for uri in uris:
        reference = _ds(info, "Reference", URI=uri)
        transforms = _ds(reference, "Transforms")
        if enveloped:
            _ds(transforms, "Transform", Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature")
        _ds(transforms, "Transform", Algorithm=EXC)
        _ds(reference, "DigestMethod", Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
        _ds(reference, "DigestValue")
    _ds(signature, "SignatureValue")
    return signature


def _xmlsec1_signed_message(pki: Pki, tmp_path: Path) -> bytes:
    now = dt.datetime.now(dt.UTC)
    spec = assertion_spec(pki, now, issuer=IssuerConfig("CN=xmlsec1 peer", HOME), resource_id=None)
    assertion = build_assertion(make_user(), spec)
    placeholder = assertion.find(q(ns.DS, "Signature"))
    assert placeholder is not None
    template = _signature_template([f"#{assertion.get('ID')}"], enveloped=True)
    _ds(_ds(template, "KeyInfo"), "X509Data")
    assertion.replace(placeholder, template)

    envelope = build_envelope(body_element(), Addressing.request(Action.ITI55_REQUEST, to=AUDIENCE))
    etree.cleanup_namespaces(envelope, top_nsmap={"wsu": ns.WSU}, keep_ns_prefixes=["wsu"])
    body = envelope.find(q(ns.SOAP12, "Body"))
    assert body is not None
    body.set(q(ns.WSU, "Id"), "body-1")
    security = ensure_security_header(envelope)
    timestamp = add_timestamp(security, created=now, lifetime=dt.timedelta(minutes=5))
    security.append(assertion)
    message_template = _signature_template([f"#{timestamp.get(q(ns.WSU, 'Id'))}", "#body-1"], enveloped=False)
    reference = etree.SubElement(_ds(message_template, "KeyInfo"), q(ns.WSSE, "SecurityTokenReference"))
    identifier = etree.SubElement(reference, q(ns.WSSE, "KeyIdentifier"), ValueType=SAMLID_VALUE_TYPE)
    identifier.text = assertion.get("ID")
    security.append(message_template)

    template_path, once, twice = tmp_path / "template.xml", tmp_path / "once.xml", tmp_path / "twice.xml"
    template_path.write_bytes(etree.tostring(envelope))
    key = f"{pki.layout.key(CertificatePurpose.SIGNING)},{pki.layout.certificate(CertificatePurpose.SIGNING)}"
    first = _run(
        "--sign",
        "--privkey-pem",
        key,
        *ASSERTION_ID,
        *ASSERTION_SIGNATURE,
        "--output",
        str(once),
        str(template_path),
    )
    assert first.returncode == 0, first.stderr
    second = _run(
        "--sign", "--privkey-pem", key, *WSU_IDS, *MESSAGE_SIGNATURE, "--output", str(twice), str(once)
    )
    assert second.returncode == 0, second.stderr
    return twice.read_bytes()


def test_xmlsec1_signed_message_verifies_in_ours(
    pki: Pki, tmp_path: Path, verifier: Callable[..., object]
) -> None:
    data = _xmlsec1_signed_message(pki, tmp_path)
    verified = verifier().verify(data)  # type: ignore[attr-defined]
    assert verified.assertion.issuer == "CN=xmlsec1 peer"
    assert verified.body_signed
    tampered = data.replace(b"CN=xmlsec1 peer", b"CN=mallory")
    with pytest.raises(errors.DigestMismatchError):
        verifier().verify(tampered)  # type: ignore[attr-defined]
