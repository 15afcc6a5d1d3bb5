"""State shared by the section builders: entry ids, the resource index, warnings, narrative tables."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.datatypes import Unexpressible, el, ref_key, template
from fhir_facade.ccda.writer.model import WriteWarning
from xca.errors import CcdaWriteError

__all__ = ["Context", "Row", "SectionSpec", "SectionWriter", "Table"]

LOINC_OID = "2.16.840.1.113883.6.1"


@dataclass(frozen=True)
class SectionSpec:
    """One CCD section: key (for warnings), templateId, LOINC code, title, narrative id prefix and columns."""

    key: str
    root: str
    extension: str | None
    code: str
    display: str
    title: str
    prefix: str
    headers: tuple[str, ...]


@dataclass(frozen=True)
class Row:
    """The narrative ids of one table row: ``id`` for the row, ``cells[i]`` for column ``i``."""

    id: str
    cells: tuple[str, ...]


class Table:
    """A section's narrative table, created on the first row; every row and cell gets an ID."""

    def __init__(self, text: etree._Element, prefix: str, headers: Sequence[str]) -> None:
        self._text = text
        self._prefix = prefix
        self._headers = tuple(headers)
        self._tbody: etree._Element | None = None
        self.rows = 0

    def add(self, cells: Sequence[str | tuple[str, ...]]) -> Row:
        """A row; a tuple cell becomes ``content`` items with ids ``{cell id}-1``, ``-2``, ..."""
        if len(cells) != len(self._headers):
            raise AssertionError("narrative row width differs from the header")
        if self._tbody is None:
            table = el(self._text, "table", border="1", width="100%")
            head = el(el(table, "thead"), "tr")
            for header in self._headers:
                el(head, "th", header)
            self._tbody = el(table, "tbody")
        self.rows += 1
        row_id = f"{self._prefix}-{self.rows}"
        tr = el(self._tbody, "tr", ID=row_id)
        ids = tuple(f"{row_id}-{i + 1}" for i in range(len(cells)))
        for cell_id, value in zip(ids, cells, strict=True):
            if isinstance(value, str):
                el(tr, "td", value, ID=cell_id)
                continue
            td = el(tr, "td", ID=cell_id)
            for k, item in enumerate(value):
                content = el(td, "content", item, ID=f"{cell_id}-{k + 1}")
                if k + 1 < len(value):
                    content.tail = "; "
        return Row(row_id, ids)


class Context:
    """Per-document state: the id root for entry ids, resources by ``Type/id``, collected warnings."""

    def __init__(self, id_root: str, resources: Iterable[dict[str, Any]]) -> None:
        self.id_root = id_root
        self.index: dict[str, dict[str, Any]] = {}
        self.warnings: list[WriteWarning] = []
        for resource in resources:
            self.index[self.key(resource)] = resource

    @staticmethod
    def key(resource: dict[str, Any]) -> str:
        rtype, rid = resource.get("resourceType"), resource.get("id")
        if not isinstance(rtype, str) or not rtype:
            raise CcdaWriteError("a resource has no resourceType")
        if not isinstance(rid, str) or not rid:
            raise CcdaWriteError("a resource has no id (entry ids derive from it)", detail={"type": rtype})
        return f"{rtype}/{rid}"

    def put_id(self, parent: etree._Element, resource: dict[str, Any], suffix: str | None = None) -> None:
        """``<id root=id_root extension="Type/id[#suffix]"/>``: stable across documents for the same fact."""
        key = self.key(resource)
        el(parent, "id", root=self.id_root, extension=f"{key}#{suffix}" if suffix else key)

    def warn(self, resource: dict[str, Any], section: str, message: str) -> None:
        self.warnings.append(WriteWarning(self.key(resource), section, message))

    def resolve(self, reference: Any, rtype: str) -> dict[str, Any] | None:
        """The resource a Reference points at, when it is of ``rtype`` and in the input."""
        key = ref_key(reference)
        if key is None or not key.startswith(f"{rtype}/"):
            return None
        return self.index.get(key)


class SectionWriter:
    """One ``component/section`` being written: its narrative table and its entries.

    Use :meth:`guard` around each entry (or organizer component): when the data turns out to be
    unexpressible the partial element is removed, the narrative row stays and a warning is recorded.
    :meth:`finish` marks an empty section ``nullFlavor="NI"`` (what C-CDA asks of a required section) with
    "No information" as its text.
    """

    def __init__(self, body: etree._Element, spec: SectionSpec, ctx: Context) -> None:
        self.spec = spec
        self.ctx = ctx
        self.section = el(el(body, "component"), "section")
        template(self.section, spec.root, spec.extension)
        el(
            self.section,
            "code",
            code=spec.code,
            codeSystem=LOINC_OID,
            codeSystemName="LOINC",
            displayName=spec.display,
        )
        el(self.section, "title", spec.title)
        self._text = el(self.section, "text")
        self.table = Table(self._text, spec.prefix, spec.headers)

    def row(self, cells: Sequence[str | tuple[str, ...]]) -> Row:
        return self.table.add(cells)

    @contextmanager
    def guard(
        self, resource: dict[str, Any], parent: etree._Element | None = None, tag: str = "entry"
    ) -> Iterator[etree._Element]:
        holder = self.section if parent is None else parent
        child = el(holder, tag)
        try:
            yield child
        except Unexpressible as exc:
            holder.remove(child)
            self.ctx.warn(resource, self.spec.key, str(exc))

    def finish(self) -> None:
        if self.table.rows == 0:
            self._text.text = "No information"
            self.section.set("nullFlavor", "NI")
