"""Directory import (JSON and XML Carequality forms, partOf), storage, selection and partner settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.directory import (
    DirectoryFormatError,
    GeoPoint,
    PartnersConfig,
    SelectionSpec,
    SelectionStrategy,
    get_community,
    import_communities,
    list_communities,
    load_partners,
    parse_directory,
    parse_partners,
    resolve_gateways,
    select_gateways,
)
from gateway.security import HeaderItem, SignatureAlgorithm
from gateway.store import Database
from xca.errors import ConfigError, PathAccessError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "directory"
PARENT, CHILD, GRANDCHILD, CLOSED, ORPHAN = (f"1.3.6.1.4.1.99999.{n}" for n in (10, 11, 12, 20, 30))
WEST, WEST_KIDS = "1.3.6.1.4.1.99999.40", "1.3.6.1.4.1.99999.41"


def _json() -> list:
    return resolve_gateways(parse_directory((FIXTURES / "carequality.json").read_bytes()).communities)


def test_json_directory_reads_identity_location_endpoints_and_part_of() -> None:
    parsed = parse_directory((FIXTURES / "carequality.json").read_bytes())
    assert parsed.skipped == ("Organization #6: no homeCommunityId (urn:oid: identifier)",)
    by_id = {c.home_community_id: c for c in resolve_gateways(parsed.communities)}
    parent = by_id[PARENT]
    assert (parent.name, parent.active, parent.location.state) == ("Lakeside Health Network", True, "IL")
    assert (parent.location.latitude, parent.location.longitude) == (41.88, -87.62)
    assert parent.endpoints.iti55 == "https://lakeside.example/xcpd"
    assert parent.endpoints.iti38 == "https://lakeside.example/xca/query"
    assert parent.endpoints.iti39 == "https://lakeside.example/xca/retrieve"
    # Reached through the parent's gateway, also two levels down; state normalized.
    assert (by_id[CHILD].part_of, by_id[CHILD].via, by_id[CHILD].location.state) == (PARENT, PARENT, "IL")
    assert by_id[CHILD].gateway == parent.endpoints
    assert not by_id[CHILD].endpoints.any
    assert by_id[GRANDCHILD].via == PARENT
    assert by_id[GRANDCHILD].reachable
    assert not by_id[CLOSED].active
    assert not by_id[ORPHAN].reachable


def test_xml_directory_gives_the_same_model() -> None:
    parsed = parse_directory((FIXTURES / "carequality.xml").read_bytes())
    by_id = {c.home_community_id: c for c in resolve_gateways(parsed.communities)}
    west = by_id[WEST]
    assert (west.name, west.active, west.location.city, west.location.latitude) == (
        "West Coast Clinic", True, "San Francisco", 37.77,
    )  # fmt: skip
    # Without the Transaction extension, ihe-xca serves both ITI-38 and ITI-39.
    assert (west.endpoints.iti55, west.endpoints.iti38, west.endpoints.iti39) == (
        "https://west.example/xcpd", "https://west.example/xca", "https://west.example/xca",
    )  # fmt: skip
    assert by_id[WEST_KIDS].via == WEST


@pytest.mark.parametrize(
    "data",
    [b"", b"hello", b"{not json", b'{"resourceType": "Patient"}', b"<!DOCTYPE x [<!ENTITY a 'b'>]><x/>",
     b'<Bundle xmlns="urn:other"/>'],
)  # fmt: skip
def test_unusable_files_are_refused(data: bytes) -> None:
    with pytest.raises(DirectoryFormatError):
        parse_directory(data)


def test_import_is_an_upsert_and_lists_resolved(database: Database) -> None:
    communities = parse_directory((FIXTURES / "carequality.json").read_bytes()).communities
    with database.session() as session, session.begin():
        first = import_communities(session, communities, source="carequality.json")
    with database.session() as session, session.begin():
        again = import_communities(session, communities, source="carequality.json")
    assert (first.added, again.added, again.unchanged) == (5, 0, 5)
    with database.session() as session, session.begin():
        xml = parse_directory((FIXTURES / "carequality.xml").read_bytes()).communities
        pruned = import_communities(session, xml, source="carequality.xml", prune=True)
    assert (pruned.added, pruned.removed) == (2, 5)
    with database.session() as session:
        listed = list_communities(session)
        assert [c.home_community_id for c in listed] == [WEST, WEST_KIDS]
        assert get_community(session, WEST_KIDS).via == WEST


def test_selection_all_state_distance_explicit_and_cap() -> None:
    communities = _json()
    everyone = select_gateways(communities, SelectionSpec())
    assert {g.community.home_community_id for g in everyone.chosen} == {PARENT, CHILD, GRANDCHILD}
    assert everyone.excluded[CLOSED] == "inactive in the directory"
    assert everyone.excluded[ORPHAN] == "no ITI-55 endpoint (own or through partOf)"

    by_state = select_gateways(
        communities, SelectionSpec(strategy=SelectionStrategy.STATE), patient_state="il"
    )
    assert {g.community.home_community_id for g in by_state.chosen} == {PARENT, CHILD}
    assert by_state.excluded[GRANDCHILD] == "other state"

    madison = GeoPoint(43.07, -89.40)
    near = select_gateways(
        communities, SelectionSpec(strategy=SelectionStrategy.DISTANCE, radius_km=300), patient_point=madison
    )
    assert [g.community.home_community_id for g in near.chosen] == [PARENT]
    assert near.chosen[0].distance_km is not None
    assert 190 < near.chosen[0].distance_km < 210
    assert near.excluded[CHILD] == "no position in the directory"
    far = select_gateways(
        communities, SelectionSpec(strategy=SelectionStrategy.DISTANCE, radius_km=50), patient_state="WI"
    )
    assert far.chosen == ()
    assert far.excluded[PARENT].endswith("(radius 50 km)")

    explicit = SelectionSpec(
        strategy=SelectionStrategy.EXPLICIT, communities=(CHILD, CLOSED, "1.2.3", PARENT), cap=1
    )
    chosen = select_gateways(communities, explicit)
    assert [g.community.home_community_id for g in chosen.chosen] == [CHILD]
    assert chosen.excluded == {CLOSED: "inactive in the directory", "1.2.3": "not in the directory",
                               PARENT: "over the cap of 1"}  # fmt: skip
    record = chosen.to_json()
    assert record["strategy"] == "explicit"
    assert record["chosen"][0]["via"] == PARENT


def test_selection_needs_what_it_measures_by() -> None:
    with pytest.raises(ConfigError):
        select_gateways(_json(), SelectionSpec(strategy=SelectionStrategy.STATE))
    with pytest.raises(ConfigError):
        select_gateways(_json(), SelectionSpec(strategy=SelectionStrategy.DISTANCE))
    with pytest.raises(ConfigError):
        SelectionSpec(strategy=SelectionStrategy.EXPLICIT)
    with pytest.raises(ConfigError):
        SelectionSpec(cap=0)


def test_partner_settings_from_toml() -> None:
    config = parse_partners(
        """
        [defaults]
        read_timeout = 4.5
        retrieve_batch_size = 3

        [partner."1.2.3.4"]
        retrieve_batch_size = 1
        signature_algorithm = "rsa-sha1"
        digest_algorithm = "sha1"
        allow_sha1 = true
        header_order = ["assertion", "timestamp", "signature"]
        required_date_range_days = 365
        audience = "urn:oid:1.2.3.4"
        """
    )
    assert config.for_community("9.9").read_timeout == 4.5
    assert config.for_community("9.9").retrieve_batch_size == 3
    old = config.for_community("1.2.3.4")
    assert (old.retrieve_batch_size, old.read_timeout, old.required_date_range_days) == (1, 4.5, 365)
    assert old.security.signature_algorithm is SignatureAlgorithm.RSA_SHA1
    assert old.security.header_order[0] is HeaderItem.ASSERTION
    assert old.security.audience == "urn:oid:1.2.3.4"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[partner."1.2.3"]\nsignature_algorithm = "rsa-sha1"', "allow_sha1"),
        ("[defaults]\nretrieve_batch_size = 0", "retrieve_batch_size must be between 1 and 100"),
        ("[defaults]\nspeed = 3", "unknown partner setting"),
        ('[partner."not-an-oid"]\nmax_attempts = 2', "bare homeCommunityId"),
        ('[defaults]\nheader_order = ["timestamp"]', "header_order"),
        ("[other]\nx = 1", "unknown table"),
        ("[defaults\n", "not valid TOML"),
    ],
)
def test_bad_partner_settings_name_the_key(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_partners(text)


def test_a_partners_file_named_but_missing_or_a_folder_is_an_error_not_the_defaults(tmp_path: Path) -> None:
    missing = tmp_path / "partners.toml"
    # The setting's default (partners.toml in the working folder) may be absent: every partner gets defaults.
    assert load_partners(missing) == PartnersConfig()
    # Named (a config file or HIEGATE_PARTNERS_FILE), it must be there.
    with pytest.raises(PathAccessError, match=r"partners_file .*partners\.toml: no such file or folder"):
        load_partners(missing, required=True)
    folder = tmp_path / "partners"
    folder.mkdir()
    for required in (True, False):
        with pytest.raises(PathAccessError, match=r"partners_file .*partners: is a folder"):
            load_partners(folder, required=required)
    missing.write_bytes(b"\xff\xfe[defaults]\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_partners(missing, required=True)
    missing.write_text("[defaults]\nretrieve_batch_size = 2\n")
    assert load_partners(missing, required=True).defaults.retrieve_batch_size == 2
