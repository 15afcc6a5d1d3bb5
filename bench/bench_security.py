"""Sign and verify cost per message: gateway.security against python-xmlsec doing the same signatures.

Run: ``.venv/bin/python bench/bench_security.py [--runs 1000] [--warmup 20] [--clock cpu|wall]``. For typical
ITI-55, ITI-38 and ITI-39 requests (synthetic data from the xca builders) it prints the median and the 90th
percentile, per message, of ``--runs`` samples of each column below (about 30 s for 1000 runs here).

The machine is assumed noisy, so the columns are measured interleaved: each turn builds fresh bodies (outside
the timers), then times one ours-sign, one xmlsec-sign and one 2×RSA, then one ours-verify and one
xmlsec-verify of the messages just signed, starting each group at a different column every turn; the three
message types take turns within each turn too. A disturbance therefore lands on all columns alike instead of
on whichever was running. The default clock is this process's CPU time (``time.process_time``), which other
work on a shared machine disturbs far less than wall time (``--clock wall``, ``time.perf_counter``).

* ``ours sign``: :func:`secure_request` on the body: the envelope, the assertion signed (enveloped,
  RSA-SHA256, exc-c14n), the Timestamp and the holder-of-key signature over Timestamp + Body, written as
  canonical text (:mod:`gateway.security.canonical`) into the serialized envelope: one secured request;
* ``ours verify``: :class:`MessageVerifier` from bytes (hardened parse, structure, duplicate IDs, both
  signatures with signxml, chain to the trust bundle (cached), conditions, attributes, Timestamp, replay);
* ``xmlsec sign`` / ``xmlsec verify``: the python-xmlsec binding (libxmlsec1) making and checking the same two
  signatures on the same templates: the reference point for the cryptographic work alone (no policy checks);
* ``2×RSA``: two raw RSA-2048 PKCS#1 v1.5 signatures, the floor any two-signature message costs here.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import xmlsec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from lxml import etree

from certs import CertificatePurpose, DevPkiLayout, init_dev_pki, load_identity
from gateway.security import (
    InMemoryReplayCache,
    IssuerConfig,
    MessageVerifier,
    NhinPurpose,
    Organization,
    OutboundSecurity,
    RequestingUser,
    Role,
    SigningIdentity,
    TrustStore,
    VerificationPolicy,
    secure_request,
)
from gateway.security.saml import AssertionInput, build_assertion
from gateway.security.wss import SAMLID_VALUE_TYPE, add_timestamp, ensure_security_header
from xca import ns
from xca.ids import Cx
from xca.iti38 import FindDocumentsQuery, Iti38Request, build_iti38_request
from xca.iti39 import DocumentRequest, build_iti39_request
from xca.iti55 import (
    NPI_ROOT,
    SSN_ROOT,
    Address,
    AdministrativeGender,
    Demographics,
    Device,
    Ii,
    Iti55Query,
    Iti55Request,
    PersonName,
    build_iti55_request,
)
from xca.ns import q
from xca.soap import Action, Addressing, build_envelope, to_bytes

AUDIENCE = "https://responder.example/xca"
HOME = "1.3.6.1.4.1.99999.1"


def _bodies() -> dict[str, tuple[Action, Callable[[], etree._Element]]]:
    demographics = Demographics(
        names=(PersonName(given=("Avery",), family="Testperson"),),
        gender=AdministrativeGender.FEMALE,
        birth_date=date(1971, 2, 28),
        addresses=(Address(("100 Example Way",), "Springfield", "IL", "62701", "US"),),
        identifiers=(Ii(SSN_ROOT, "999001234"),),
        principal_care_provider_ids=(Ii(NPI_ROOT, "1234567893"),),
    )
    iti55 = Iti55Request(
        message_id=Ii("0b7f6d0e-6a44-4c2e-9d47-3f1b2d6c8a10"),
        creation_time=datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
        sender=Device("1.3.6.1.4.1.99999.1.1", HOME),
        receiver=Device("1.3.6.1.4.1.88888.1.1", "1.3.6.1.4.1.88888.1"),
        query=Iti55Query(Ii("1.3.6.1.4.1.99999.3", "Q-1"), demographics),
    )
    iti38 = Iti38Request(
        FindDocumentsQuery(patient_id=Cx("P-1", "1.3.6.1.4.1.88888.2")), "1.3.6.1.4.1.88888.1"
    )
    documents = [
        DocumentRequest("1.3.6.1.4.1.88888.1", "1.3.6.1.4.1.88888.3", f"1.3.6.1.4.1.88888.4.{n}")
        for n in (1, 2)
    ]
    return {
        "ITI-55": (Action.ITI55_REQUEST, lambda: build_iti55_request(iti55)),
        "ITI-38": (Action.ITI38_REQUEST, lambda: build_iti38_request(iti38)),
        "ITI-39": (Action.ITI39_REQUEST, lambda: build_iti39_request(documents)),
    }


class XmlsecReference:
    """The same two signatures with python-xmlsec, on templates from the same builders."""

    def __init__(self, layout: DevPkiLayout, identity: SigningIdentity) -> None:
        key_pem = layout.key(CertificatePurpose.SIGNING).read_bytes()
        self.cert_pem = layout.certificate(CertificatePurpose.SIGNING).read_bytes()
        self.key = xmlsec.Key.from_memory(key_pem, xmlsec.KeyFormat.PEM)
        self.key.load_cert_from_memory(self.cert_pem, xmlsec.KeyFormat.CERT_PEM)
        self.manager = xmlsec.KeysManager()
        self.manager.load_cert(str(layout.ca_certificate), xmlsec.KeyFormat.PEM, xmlsec.KeyDataType.TRUSTED)
        self.identity = identity
        self.user = _user()

    def sign(self, action: Action, body: etree._Element) -> bytes:
        now = dt.datetime.now(dt.UTC)
        spec = AssertionInput(
            IssuerConfig("CN=hie-gateway-dev", HOME),
            AUDIENCE,
            now,
            dt.timedelta(minutes=5),
            self.identity.certificate.public_bytes(serialization.Encoding.DER),
        )
        assertion = build_assertion(self.user, spec)
        placeholder = assertion.find(q(ns.DS, "Signature"))
        template = xmlsec.template.create(assertion, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256)
        reference = xmlsec.template.add_reference(
            template, xmlsec.Transform.SHA256, uri=f"#{assertion.get('ID')}"
        )
        xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
        xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(template))
        assertion.replace(placeholder, template)  # type: ignore[arg-type]
        envelope = build_envelope(body, Addressing.request(action, to=AUDIENCE))
        etree.cleanup_namespaces(envelope, top_nsmap={"wsu": ns.WSU}, keep_ns_prefixes=["wsu"])
        soap_body = envelope.find(q(ns.SOAP12, "Body"))
        soap_body.set(q(ns.WSU, "Id"), "Body-1")  # type: ignore[union-attr]
        security = ensure_security_header(envelope)
        timestamp = add_timestamp(security, created=now, lifetime=dt.timedelta(minutes=5))
        security.append(assertion)
        message = xmlsec.template.create(envelope, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256)
        for uri in (f"#{timestamp.get(q(ns.WSU, 'Id'))}", "#Body-1"):
            ref = xmlsec.template.add_reference(message, xmlsec.Transform.SHA256, uri=uri)
            xmlsec.template.add_transform(ref, xmlsec.Transform.EXCL_C14N)
        str_ = etree.SubElement(
            xmlsec.template.ensure_key_info(message), q(ns.WSSE, "SecurityTokenReference")
        )
        etree.SubElement(str_, q(ns.WSSE, "KeyIdentifier"), ValueType=SAMLID_VALUE_TYPE).text = assertion.get(
            "ID"
        )
        security.append(message)
        xmlsec.tree.add_ids(assertion, ["ID"])
        xmlsec.tree.add_ids(envelope, ["Id"])
        for node in (template, message):
            context = xmlsec.SignatureContext()  # a context signs once
            context.key = self.key
            context.sign(node)
        return to_bytes(envelope)

    def verify(self, data: bytes) -> None:
        root = etree.fromstring(data)
        assertion = root.find(f".//{q(ns.SAML2, 'Assertion')}")
        xmlsec.tree.add_ids(assertion, ["ID"])
        xmlsec.tree.add_ids(root, ["Id"])
        xmlsec.SignatureContext(self.manager).verify(assertion.find(q(ns.DS, "Signature")))  # type: ignore[union-attr,arg-type]
        context = xmlsec.SignatureContext()
        context.key = xmlsec.Key.from_memory(self.cert_pem, xmlsec.KeyFormat.CERT_PEM)
        context.verify(
            root.find(f"{q(ns.SOAP12, 'Header')}/{q(ns.WSSE, 'Security')}/{q(ns.DS, 'Signature')}")
        )  # type: ignore[arg-type]


def _user() -> RequestingUser:
    return RequestingUser(
        "jdoe@clinic.example",
        "Dr. Jane Testdoctor",
        Role.physician(),
        Organization("Example Clinic", HOME),
        NhinPurpose.TREATMENT,
        npi="1234567893",
    )


Timer = Callable[[], float]
COLUMNS = ("ours sign", "ours verify", "xmlsec sign", "xmlsec verify", "2×RSA")
_WIDTHS = (10, 12, 12, 14, 7)


@dataclass(frozen=True)
class Subjects:
    """Everything that signs or verifies, made once and shared by all turns and message types."""

    security: OutboundSecurity
    identity: SigningIdentity
    user: RequestingUser
    verifier: MessageVerifier
    reference: XmlsecReference


class Columns:
    """Samples (seconds) per column for one message type."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = {name: [] for name in COLUMNS}

    def run(self, clock: Timer, operations: list[tuple[str, Callable[[], object]]], turn: int) -> None:
        """Time each operation once, starting at a different one each turn (rotation): a burst of noise, a
        cache or a frequency change then falls on every column in turn rather than on one of them."""
        shift = turn % len(operations)
        for name, operation in operations[shift:] + operations[:shift]:
            start = clock()
            operation()
            self.samples[name].append(clock() - start)


def _turn(
    subjects: Subjects,
    action: Action,
    build: Callable[[], etree._Element],
    columns: Columns,
    *,
    clock: Timer,
    turn: int,
) -> int:
    """One sample of every column for one message type; returns the size of our signed message."""
    # Bodies are built outside the timers, one per signer (signing changes the tree it is given).
    ours_body, xmlsec_body = build(), build()
    signed: dict[str, bytes] = {}

    def ours_sign() -> None:
        signed["ours"] = secure_request(
            ours_body,
            Addressing.request(action, to=AUDIENCE),
            security=subjects.security,
            user=subjects.user,
            resource_id=Cx("P-1", "1.3.6.1.4.1.88888.2"),
        ).data

    def xmlsec_sign() -> None:
        signed["xmlsec"] = subjects.reference.sign(action, xmlsec_body)

    def two_rsa() -> None:
        for _ in range(2):
            subjects.identity.private_key.sign(b"x" * 600, padding.PKCS1v15(), hashes.SHA256())

    columns.run(clock, [("ours sign", ours_sign), ("xmlsec sign", xmlsec_sign), ("2×RSA", two_rsa)], turn)
    columns.run(
        clock,
        [
            ("ours verify", lambda: subjects.verifier.verify(signed["ours"])),
            ("xmlsec verify", lambda: subjects.reference.verify(signed["xmlsec"])),
        ],
        turn,
    )
    return len(signed["ours"])


def _quantile_ms(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def _table(title: str, rows: list[tuple[str, int, Columns]], q: float) -> None:
    print(title)
    print(
        f"{'message':<8} {'bytes':>6} " + " ".join(f"{h:>{w}}" for h, w in zip(COLUMNS, _WIDTHS, strict=True))
    )
    for name, size, columns in rows:
        values = " ".join(
            f"{_quantile_ms(columns.samples[c], q):>{w}.3f}" for c, w in zip(COLUMNS, _WIDTHS, strict=True)
        )
        print(f"{name:<8} {size:>6} {values}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=20, help="untimed turns before the measured ones")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    args = parser.parse_args()
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    with tempfile.TemporaryDirectory() as tmp:
        init_dev_pki(Path(tmp))
        layout = DevPkiLayout(Path(tmp))
        loaded = load_identity(
            layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING)
        )
        identity = SigningIdentity.of(loaded.certificate, loaded.private_key)
        subjects = Subjects(
            security=OutboundSecurity(IssuerConfig("CN=hie-gateway-dev", HOME), identity),
            identity=identity,
            user=_user(),
            verifier=MessageVerifier(
                trust=TrustStore.from_pem_file(layout.trust_bundle),
                policy=VerificationPolicy(audiences=frozenset({AUDIENCE})),
                replay_cache=InMemoryReplayCache(),
            ),
            reference=XmlsecReference(layout, identity),
        )
        bodies = _bodies()
        results = {name: Columns() for name in bodies}
        sizes: dict[str, int] = {}
        started = time.perf_counter()
        for turn in range(-args.warmup, args.runs):
            # message types interleaved too, so that their rows are measured under the same conditions
            for name, (action, build) in bodies.items():
                columns = results[name] if turn >= 0 else Columns()
                sizes[name] = _turn(subjects, action, build, columns, clock=clock, turn=turn)
        elapsed = time.perf_counter() - started
    print(
        f"{args.runs} interleaved runs per message in {elapsed:.0f} s; {args.clock} milliseconds per message"
        " (goal: sign < 1.5, verify < 3)"
    )
    rows = [(name, sizes[name], results[name]) for name in bodies]
    _table("median", rows, 0.5)
    _table("90th percentile", rows, 0.9)


if __name__ == "__main__":
    main()
