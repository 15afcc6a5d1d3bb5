"""``hiegate directory import --url``: a directory fetched from its FHIR server, every page of the search
followed by its ``next`` links, over verified TLS; and everything a directory server could get wrong or use
against the importer refused before anything is imported."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from certs import CertificatePurpose, DevPkiLayout, init_dev_pki
from gateway.cli import main
from tests.env import isolate_settings

API_KEY = "Bearer s3cret-directory-key"
HCIDS = ("1.3.6.1.4.1.77777.1", "1.3.6.1.4.1.77777.2", "1.3.6.1.4.1.77777.3")


def _organization(n: int, hcid: str) -> dict[str, Any]:
    return {
        "resourceType": "Organization",
        "id": f"org{n}",
        "identifier": [{"value": f"urn:oid:{hcid}"}],
        "name": f"Hospital {n}",
        "address": [{"city": "Springfield", "state": "IL"}],
        "endpoint": [{"reference": f"Endpoint/xcpd{n}"}, {"reference": f"Endpoint/xca{n}"}],
    }


def _endpoint(n: int, kind: str, port: int) -> dict[str, Any]:
    return {
        "resourceType": "Endpoint",
        "id": f"{kind}{n}",
        "status": "active",
        "connectionType": {"code": f"ihe-{kind}"},
        "address": f"https://gw{n}.example.org:{port}/{kind}",
    }


def _page(resources: list[dict[str, Any]], next_url: str | None) -> dict[str, Any]:
    page: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r} for r in resources],
    }
    if next_url is not None:
        page["link"] = [{"relation": "self", "url": "ignored"}, {"relation": "next", "url": next_url}]
    return page


@dataclass
class Directory:
    """A FHIR server on loopback: ``pages`` maps a request target (path and query) to its answer."""

    url: str
    port: int
    trust_bundle: Path
    pages: dict[str, tuple[int, bytes, dict[str, str], float]] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def serve(
        self,
        target: str,
        body: Any,
        status: int = 200,
        headers: dict[str, str] | None = None,
        drip: float = 0,
    ) -> None:
        """Answer ``target`` with ``body``; ``drip``: seconds between bytes, as a server stalling a client."""
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.pages[target] = (status, data, headers or {}, drip)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("directory-pki")
    init_dev_pki(folder)
    return folder


@pytest.fixture
def directory(pki: Path) -> Iterator[Directory]:
    layout = DevPkiLayout(pki)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # one-way TLS: a directory does not ask for ours
    context.load_cert_chain(
        layout.certificate(CertificatePurpose.TLS_SERVER), layout.key(CertificatePurpose.TLS_SERVER)
    )
    state: dict[str, Directory] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served = state["directory"]
            served.requests.append((self.path, self.headers.get("Authorization")))
            missing = (404, b'{"resourceType": "OperationOutcome"}', {}, 0.0)
            status, body, headers, drip = served.pages.get(self.path, missing)
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if not drip:
                self.wfile.write(body)
                return
            for byte in range(len(body)):
                self.wfile.write(body[byte : byte + 1])
                self.wfile.flush()
                if served.stop.wait(drip):
                    return

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    state["directory"] = Directory(
        f"https://localhost:{port}/fhir/Organization?_include=Organization:endpoint&apikey=hidden",
        port,
        layout.trust_bundle,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["directory"]
    finally:
        state["directory"].stop.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(autouse=True)
def _settings(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, directory: Directory
) -> None:
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("HIEGATE_DIRECTORY_CA_FILE", str(directory.trust_bundle))


def _two_pages(directory: Directory) -> None:
    """Organizations on the first page, their Endpoints (as ``_include`` may put them) on the second."""
    first = directory.url.split(f":{directory.port}", 1)[1]
    directory.serve(first, _page([_organization(n, h) for n, h in enumerate(HCIDS)], "Organization?page=2"))
    endpoints = [_endpoint(n, kind, 443) for n in range(len(HCIDS)) for kind in ("xcpd", "xca")]
    directory.serve("/fhir/Organization?page=2", _page(endpoints, None))


def _listed(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["directory", "list", "--all", "--json"]) == 0
    return list(json.loads(capsys.readouterr().out))


def test_every_page_is_fetched_and_read_as_one_directory(
    directory: Directory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_pages(directory)
    monkeypatch.setenv("HIEGATE_DIRECTORY_AUTH_HEADER", f"Authorization: {API_KEY}")
    assert main(["directory", "import", "--url", directory.url]) == 0
    out = capsys.readouterr().out
    shown = f"https://localhost:{directory.port}/fhir/Organization"
    assert out.startswith(f"{shown}: 2 pages, ")
    assert f"{shown}: 3 communities (3 added, 0 updated, 0 unchanged, 0 removed); 0 skipped" in out
    assert "hidden" not in out  # the query may hold a key
    assert API_KEY not in out
    # The relative next link resolved against its page; the header went with every request.
    assert [path for path, _ in directory.requests][1] == "/fhir/Organization?page=2"
    assert {auth for _, auth in directory.requests} == {API_KEY}
    listed = {c["home_community_id"]: c["endpoints"] for c in _listed(capsys)}
    assert listed[HCIDS[1]] == {
        "iti55": "https://gw1.example.org:443/xcpd",
        "iti38": "https://gw1.example.org:443/xca",
        "iti39": "https://gw1.example.org:443/xca",
    }


def test_the_directory_url_setting_is_the_default(
    directory: Directory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_pages(directory)
    monkeypatch.setenv("HIEGATE_DIRECTORY_URL", directory.url)
    assert main(["directory", "import", "--url"]) == 0
    assert len(_listed(capsys)) == 3


def _refused(capsys: pytest.CaptureFixture[str], *args: str, code: int = 1) -> str:
    assert main(["directory", "import", *args]) == code
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1, captured.err
    assert _listed(capsys) == []  # nothing imported
    return captured.err


FIRST = "/fhir/Organization?_include=Organization:endpoint&apikey=hidden"


@pytest.mark.parametrize(
    ("serve", "message"),
    [
        (
            lambda d: d.serve(FIRST, {"resourceType": "OperationOutcome"}, status=401),
            "/fhir/Organization: HTTP 401 (refused: check directory_auth_header); nothing imported",
        ),
        (
            lambda d: d.serve(FIRST, _page([_organization(0, HCIDS[0])], "Organization?page=2")),
            "/fhir/Organization: HTTP 404; nothing imported",  # the second page failed: not even the first
        ),
        (
            lambda d: d.serve(FIRST, _page([_organization(0, HCIDS[0])], "https://elsewhere.example/p2")),
            "the next link leaves the server (https://elsewhere.example/p2); nothing imported",
        ),
        (
            lambda d: d.serve(FIRST, _page([_organization(0, HCIDS[0])], FIRST)),
            "the next link goes back to a page already read; nothing imported",
        ),
        (
            lambda d: d.serve(FIRST, b"<html>maintenance</html>"),
            "/fhir/Organization: the page is not JSON; nothing imported",
        ),
        (
            lambda d: d.serve(FIRST, {"resourceType": "Organization"}),
            "expected a FHIR Bundle (a search's page), found a FHIR Organization; nothing imported",
        ),
    ],
)
def test_a_directory_server_gone_wrong_imports_nothing(
    directory: Directory,
    capsys: pytest.CaptureFixture[str],
    serve: Callable[[Directory], None],
    message: str,
) -> None:
    serve(directory)
    err = _refused(capsys, "--url", directory.url)
    assert err.startswith("hiegate: HG-6103: https://localhost:")
    assert err.rstrip().endswith(message)
    assert "hidden" not in err


def test_the_server_certificate_is_verified(
    directory: Directory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_pages(directory)
    monkeypatch.delenv("HIEGATE_DIRECTORY_CA_FILE")  # the operating system's CAs do not know the dev CA
    err = _refused(capsys, "--url", directory.url)
    assert "the server's certificate was refused (unable to get local issuer certificate" in err
    assert directory.requests == []


def test_bad_requests_are_refused_before_anything_is_asked(
    directory: Directory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    plain = directory.url.replace("https://", "http://")
    assert "a directory is fetched over https only" in _refused(capsys, "--url", plain)
    assert "--url needs a URL, or set directory_url" in _refused(capsys, "--url", code=2)
    both = _refused(capsys, str(tmp_path / "file.json"), "--url", directory.url, code=2)
    assert "give directory files or --url, not both" in both
    monkeypatch.setenv("HIEGATE_DIRECTORY_AUTH_HEADER", "no colon here")
    assert main(["directory", "import", "--url", directory.url]) == 2  # every command refuses the setting
    err = capsys.readouterr().err
    assert "HIEGATE_DIRECTORY_AUTH_HEADER" in err
    assert "no colon here" not in err  # a secret is not echoed
    assert directory.requests == []


def test_a_slow_or_garbled_server_is_stopped_with_a_clear_error(directory: Directory) -> None:
    """A server dripping bytes (each within the read timeout) is stopped at the page's deadline; a body
    that is not the encoding it declares is an error, not a crash."""
    from gateway.directory.fetch import FetchLimits, fetch_directory
    from gateway.security import service_ssl_context
    from xca.errors import DirectoryFetchError

    context = service_ssl_context(trust_bundle=directory.trust_bundle)
    base = f"https://localhost:{directory.port}"
    directory.serve("/drip", _page([_organization(0, HCIDS[0])], None), drip=0.05)
    with pytest.raises(DirectoryFetchError, match="sends too slowly"):
        fetch_directory(f"{base}/drip", ssl_context=context, limits=FetchLimits(timeout=5, page_seconds=0.5))
    directory.serve("/lie", b"not gzip at all", headers={"Content-Encoding": "gzip"})
    with pytest.raises(DirectoryFetchError, match="content encoding cannot be decoded"):
        fetch_directory(f"{base}/lie", ssl_context=context)
    for link in ("https://localhost:1:/x", "https://[::1/x"):
        directory.serve("/odd", _page([_organization(0, HCIDS[0])], link))
        with pytest.raises(DirectoryFetchError, match="not a"):
            fetch_directory(f"{base}/odd", ssl_context=context)
    with pytest.raises(DirectoryFetchError, match="is not a usable URL"):
        fetch_directory("https://[::1/ok", ssl_context=context)


def test_only_organizations_and_endpoints_are_kept(directory: Directory) -> None:
    from gateway.directory.fetch import fetch_directory
    from gateway.security import service_ssl_context

    junk: list[Any] = [{}, [], "x", {"resource": "x"}, {"resource": {"resourceType": "Patient"}}]
    page = _page([_organization(0, HCIDS[0]), _endpoint(0, "xcpd", 443)], None)
    page["entry"] += junk
    directory.serve("/mixed", page)
    context = service_ssl_context(trust_bundle=directory.trust_bundle)
    fetched = fetch_directory(f"https://localhost:{directory.port}/mixed", ssl_context=context)
    kinds = [entry["resource"]["resourceType"] for entry in fetched.bundle["entry"]]
    assert kinds == ["Organization", "Endpoint"]


def test_credentials_never_show_and_are_refused_in_the_url(
    directory: Directory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _two_pages(directory)
    with_password = directory.url.replace("https://", "https://admin:PASSW0RD@")
    err = _refused(capsys, "--url", with_password)
    assert "credentials in the URL are refused: put them in directory_auth_header" in err
    assert "PASSW0RD" not in err
    assert directory.requests == []
    monkeypatch.setenv("HIEGATE_DIRECTORY_URL", with_password)
    assert main(["config", "show"]) == 2  # the setting refuses it too, without repeating it
    assert "PASSW0RD" not in capsys.readouterr().err
    monkeypatch.setenv("HIEGATE_DIRECTORY_URL", directory.url)
    assert main(["config", "show"]) == 0
    out = capsys.readouterr().out
    assert "/fhir/Organization?***" in out
    assert "hidden" not in out  # the query may carry an API key
    monkeypatch.setenv("HIEGATE_DIRECTORY_AUTH_HEADER", "X-API-Key: s3cret-\u00e9")
    assert main(["directory", "import", "--url"]) == 2  # visible ASCII only, and the secret not echoed
    err = capsys.readouterr().err
    assert "HIEGATE_DIRECTORY_AUTH_HEADER" in err
    assert "s3cret" not in err


def test_a_directory_of_which_nothing_can_be_imported_prunes_nothing(
    directory: Directory, capsys: pytest.CaptureFixture[str]
) -> None:
    _two_pages(directory)
    assert main(["directory", "import", "--url", directory.url]) == 0
    no_oid = {
        **_organization(9, HCIDS[0]),
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1"}],
    }
    first = directory.url.split(f":{directory.port}", 1)[1]
    directory.serve(first, _page([no_oid], None))
    assert main(["directory", "import", "--url", directory.url, "--prune"]) == 1
    err = capsys.readouterr().err
    assert "HG-6101" in err
    assert "none of its 1 Organizations can be imported" in err
    assert len(_listed(capsys)) == 3  # nothing removed


def test_a_bad_ca_file_names_the_setting(
    directory: Directory, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _two_pages(directory)
    monkeypatch.setenv("HIEGATE_DIRECTORY_CA_FILE", str(tmp_path / "missing.pem"))
    err = _refused(capsys, "--url", directory.url, code=2)
    assert f"HG-1002: directory_ca_file {tmp_path / 'missing.pem'}: no such file" in err
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    monkeypatch.setenv("HIEGATE_DIRECTORY_CA_FILE", str(garbage))
    err = _refused(capsys, "--url", directory.url, code=2)
    assert f"directory_ca_file {garbage}: holds no PEM CA certificate" in err
    assert directory.requests == []


def test_a_page_larger_than_its_limit_is_refused(directory: Directory) -> None:
    from gateway.directory.fetch import FetchLimits, fetch_directory
    from gateway.security import service_ssl_context
    from xca.errors import DirectoryFetchError

    directory.serve("/big", _page([_organization(n, f"1.3.6.1.4.1.77777.{n}") for n in range(1, 200)], None))
    context = service_ssl_context(trust_bundle=directory.trust_bundle)
    url = f"https://localhost:{directory.port}/big"
    with pytest.raises(DirectoryFetchError, match="the page or the directory is larger than the limit"):
        fetch_directory(url, ssl_context=context, limits=FetchLimits(max_page_bytes=10_000))
    assert len(fetch_directory(url, ssl_context=context).bundle["entry"]) == 199
