"""Consolidation: the conversions of many C-CDA documents about one patient → one de-duplicated record.

API
    ``consolidate(results_or_bundles, strict=False) -> Consolidation`` with ``bundle`` (one ``collection``
    Bundle), ``report`` (:class:`ConsolidationReport`: documents, merges and their reasons, counts per type,
    conflicts, possible duplicates kept apart) and ``documents`` (the input Bundles, untouched: the raw
    per-document view). The same inputs in any order give byte-identical output: documents are ordered by
    date then by stable ids, and every grouping step runs over sorted keys.

What is the same fact (per type; see ``rules.py`` and ``matching.py`` for the mechanics)
    Identical ids are the strongest evidence: the id scheme derives an entry's id from its C-CDA ``id``
    (root/extension), so the same entry sent in two documents already has one id. Beyond that:

    * **Condition**: a shared coding (same system and code; SNOMED CT, ICD-10-CM...) and a compatible onset
      (same day, or one of them without an onset). Chronic problems are re-sent by every organization with
      the onset it knows; two onsets on different days are kept apart, since the same code can recur as a
      distinct episode (a second pneumonia). A shared ICD-10 code does not join two conditions whose SNOMED
      codes differ: ICD-10 is coarser (many SNOMED concepts map to one ICD-10 code).
    * **AllergyIntolerance**: the same substance code. An allergy is a lasting property of the patient, not an
      event, so its dates do not tell two allergies apart.
    * **MedicationStatement / MedicationRequest** (each within its type) and **Medication**: the same product
      code (RxNorm, through ``medicationReference`` when the product is a Medication resource) and
      overlapping periods (open periods are ongoing): one continuous therapy reported by several prescribers'
      systems. Ingredient-level matching (a brand and its generic) needs RxNorm relationships; not done.
    * **Immunization**: the same vaccine code and the same day (a second dose is a different fact).
    * **Observation**: the same code, the same effective instant and the same value (quantity value + unit,
      coded value, components): a repeated measurement with a different value or time is another fact.
      Without any time an Observation is matched only by id.
    * **DiagnosticReport**: the same code and effective instant; the merged report lists the union of the
      results (each already de-duplicated as an Observation).
    * **Encounter**: the same identifier, or the same type and start day.
    * **Procedure**: the same code and performed day.
    * **DocumentReference**: the same content hash (the same bytes).
    * **FamilyMemberHistory** (one per relative): the same relationship code (RoleCode FTH, SIS...) and no
      identity detail both give that differs (the relative's name, birth year, own id; a shared own id
      outweighs a differing name or year): relatives with details are matched among themselves first; one
      without any joins its relationship's group only when exactly one exists (else it is kept apart and
      listed as a possible duplicate). Two of one document are never joined: C-CDA gives each relative
      their own organizer (two brothers are two organizers). An unknown relationship never matches. The
      conditions are merged entry by entry on their code (see below).
    * **Patient**: one per consolidation (the inputs are about one patient); identifiers, names, addresses and
      telecoms are united without duplicates, differing demographics are reported as conflicts, and each
      absorbed per-document Patient is kept as ``Patient.link`` (``replaces``, identified by its
      ``urn:uuid``, its id in the raw view).
    * **Practitioner, Organization, Location**: a shared identifier (NPI, OID-rooted ids), else the same
      name and address; identifiers of one system that differ keep them apart. **Device**: a shared
      identifier. **PractitionerRole**: the same practitioner and organization (after their own merging).
    * **Composition, Provenance**: one per document, never merged (their references are rewritten).
    * Any other type (goals, care teams, coverages... as sections are added): identical content, references
      compared through their survivors. Add a rule in ``rules.py`` to match it clinically.

    An occurrence with a partial or missing time joins a group only when exactly one candidate group exists;
    otherwise it stays apart and is listed as a possible duplicate.

How values are merged (``merge.py``)
    The newest document's values win; a field it lacks is filled from older documents (the most complete
    status or severity survives); codings, identifiers, categories, notes, reactions, names, addresses,
    DiagnosticReport results... are united; a relative's conditions sharing a code are one condition
    (merged the same way, field by field); the onset and recorded date keep the earliest value. Every other
    disagreement (an allergy's criticality, a problem active in one document and resolved in a later one)
    keeps the newest value and is reported in ``report.conflicts`` with each document's value.

Where each fact came from
    * ``extension`` :data:`SOURCE_DOCUMENT_URL` (``valueReference`` to the source DocumentReference),
      repeated once per source document, oldest first, on every resource except the source
      DocumentReferences themselves and the Provenances. One resource, all its sources, no lookup needed.
    * ``meta.source``: the one document whose values the resource shows (the newest).
    * The per-document Provenance (one per document, entity = its source DocumentReference) keeps targeting
      everything that document contributed, rewritten to the survivors; so does each Composition.
    Nothing is dropped: every input resource id maps to a resource of the output (``report.merges``).
"""

from fhir_facade.ccda.consolidate.core import Consolidation, consolidate
from fhir_facade.ccda.consolidate.merge import SOURCE_DOCUMENT_URL, Conflict
from fhir_facade.ccda.consolidate.report import (
    ConsolidationReport,
    DocumentInfo,
    Merge,
    PossibleDuplicate,
    TypeCount,
)

__all__ = [
    "SOURCE_DOCUMENT_URL",
    "Conflict",
    "Consolidation",
    "ConsolidationReport",
    "DocumentInfo",
    "Merge",
    "PossibleDuplicate",
    "TypeCount",
    "consolidate",
]
