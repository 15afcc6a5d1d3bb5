"""Section narrative: resolving ``originalText/reference`` and rendering ``<text>`` as FHIR XHTML.

References (``#id``) resolve against every element with an ``ID`` attribute inside section ``<text>``; IDs are
unique in a document, so one index per document built on first use serves every section. The XHTML rendering
maps the CDA narrative block onto the small XHTML subset FHIR allows (no scripts, no forms, no event
handlers):
``paragraph`` → ``p``, ``content`` → ``span``, ``list``/``item`` → ``ul``/``ol``/``li``, ``linkHtml`` → ``a``,
``renderMultiMedia`` → a note, tables as tables.
"""

from __future__ import annotations

import re
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, child, text_of
from fhir_facade.ccda.context import ConversionContext

__all__ = ["XHTML", "narrative_div", "original_text", "resolve_reference"]

XHTML: Final = "http://www.w3.org/1999/xhtml"
_DIV_OPEN: Final = f'<div xmlns="{XHTML}">'
# A start or end tag (any prefix; lxml writes attributes with double quotes), a comment, or a PI.
_MARKUP: Final = re.compile(
    r"<(/?)(?:[\w.-]+:)?([\w.-]+)((?:\s+[^\s=/>]+=\"[^\"]*\")*)\s*(/?)>|<!--.*?-->|<\?.*?\?>", re.DOTALL
)
_ATTRIBUTE: Final = re.compile(r'([^\s=]+)="([^"]*)"')
_TAGS_ONLY: Final = re.compile(r"<[^>]*>")
_TAGS: Final[dict[str, str]] = {
    "paragraph": "p",
    "content": "span",
    "item": "li",
    "linkHtml": "a",
    **{name: name for name in ("table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup")},
    **{name: name for name in ("col", "sub", "sup", "br")},
}
_CELL_ATTRIBUTES: Final = ("colspan", "rowspan", "align", "valign")
_DYNAMIC: Final = frozenset({"list", "table", "caption", "linkHtml", "renderMultiMedia"})
# Renderings of tags with attributes but no ID and no context (``<content styleCode="Bold">``, ``<td
# colspan="2">``): they repeat across documents, so they are remembered, up to a bound.
_SEEN: dict[str, str] = {}
_SEEN_LIMIT: Final = 4096
# Attribute-less tags whose rendering never depends on context: a lookup instead of a function call.
_STATIC: Final[dict[str, str]] = {
    **{f"<{name}>": f"<{tag}>" for name, tag in _TAGS.items() if name not in _DYNAMIC},
    **{f"</{name}>": f"</{tag}>" for name, tag in _TAGS.items() if name not in _DYNAMIC},
    **{
        f"<{name}/>": f"<{tag}></{tag}>"
        for name, tag in _TAGS.items()
        if name not in _DYNAMIC | {"br", "col"}
    },
    "<br/>": "<br/>",
    "<col/>": "<col/>",
}
_STYLE_CLASSES: Final[dict[str, str]] = {"Bold": "bold", "Italics": "italics", "Underline": "underline"}


def _index(ctx: ConversionContext) -> dict[str, etree._Element]:
    if ctx.narrative_ids is None:
        ids: dict[str, etree._Element] = {}
        for text in ctx.root.iter(V3 + "text"):
            if text.getparent() is not None and text.getparent().tag == V3 + "section":  # type: ignore[union-attr]
                for element in text.iter():
                    ident = element.get("ID")
                    if ident:
                        ids.setdefault(ident.strip(), element)
        ctx.narrative_ids = ids
    return ctx.narrative_ids


def resolve_reference(value: str | None, ctx: ConversionContext) -> str | None:
    """The narrative text a ``reference/@value`` (``#id``) points at, whitespace collapsed."""
    if not value:
        return None
    target = _index(ctx).get(value.strip().removeprefix("#"))
    return text_of(target)


def original_text(element: etree._Element | None, ctx: ConversionContext) -> str | None:
    """Text of an ``originalText`` (or ``text``) element: its reference resolved, else its own content."""
    if element is None:
        return None
    ref = child(element, "reference")
    if ref is not None:
        resolved = resolve_reference(ref.get("value"), ctx)
        if resolved:
            return resolved
        own = (element.text or "").strip()
        if not own:
            ctx.tally("unresolved-reference", ref, "narrative references did not resolve to any text")
            return None
    return text_of(element)


def narrative_div(text: etree._Element | None) -> str | None:
    """The XHTML ``div`` for a section's ``<text>``, or ``None`` when the narrative is empty.

    libxml2 serializes the narrative and one regular-expression pass renames the tags and filters the
    attributes of the (well-formed) result; tags without attributes, most of them, are a dictionary lookup.
    This is several times faster than walking the elements from Python or running an XSLT, and the narrative
    is most of a typical document.
    """
    if text is None:
        return None
    serialized = etree.tostring(text, encoding="unicode", with_tail=False)
    head = serialized.find(">")
    if serialized[head - 1] == "/":  # <text/>
        return None
    tail = serialized.rfind("<")
    state = _State()
    body = _MARKUP.sub(
        lambda match: _STATIC.get(match.group(0)) or _rewrite(match, state), serialized[head + 1 : tail]
    )
    if not _TAGS_ONLY.sub("", body).strip():
        return None
    return _DIV_OPEN + body + "</div>"


class _State:
    """What closing tags depend on: the enclosing lists/tables, the open caption's and link's renderings."""

    __slots__ = ("caption", "containers", "link")

    def __init__(self) -> None:
        self.containers: list[str] = []
        self.caption = "caption"
        self.link = "a"


def _rewrite(match: re.Match[str], state: _State) -> str:
    whole = match.group(0)
    cached = _SEEN.get(whole)
    if cached is not None:
        return cached
    closing, local, attributes, empty = match.group(1, 2, 3, 4)
    if local is not None and local not in _DYNAMIC and ' ID="' not in whole and len(_SEEN) < _SEEN_LIMIT:
        _SEEN[whole] = rendered = _render_tag(closing, local, attributes, empty, state)
        return rendered
    return _render_tag(closing, local, attributes, empty, state)


def _render_tag(closing: str, local: str | None, attributes: str | None, empty: str, state: _State) -> str:
    if local is None:  # a comment or processing instruction
        return ""
    if closing:
        if local in ("list", "table"):
            return f"</{state.containers.pop() if state.containers else 'ul'}>"
        closer = {"caption": state.caption, "linkHtml": state.link}.get(local) or _TAGS.get(local, "span")
        return f"</{closer}>"
    found = dict(_ATTRIBUTE.findall(attributes)) if attributes else {}
    tag = _TAGS.get(local, "span")
    extra = ""
    if local == "list":
        tag = "ol" if found.get("listType") == "ordered" else "ul"
    elif local == "caption":
        parent = state.containers[-1] if state.containers else None
        tag = state.caption = "caption" if parent == "table" else "li" if parent else "span"
    elif local == "linkHtml":
        href = found.get("href", "").strip()
        safe = href.lower().startswith(("http:", "https:", "#", "mailto:"))
        tag = state.link = "a" if safe else "span"
        extra = f' href="{href}"' if safe else ""
    elif local == "renderMultiMedia":
        return "<span>[multimedia not shown]</span>" if empty else "<span>[multimedia not shown]"
    ident = found.get("ID", "").strip()
    if ident:
        extra += f' id="{ident}"'
    style = found.get("styleCode")
    if style:
        classes = " ".join(_STYLE_CLASSES[s] for s in style.split() if s in _STYLE_CLASSES)
        if classes:
            extra += f' class="{classes}"'
    if tag in ("td", "th"):
        extra += "".join(f' {name}="{found[name]}"' for name in _CELL_ATTRIBUTES if name in found)
    if empty:
        return f"<{tag}{extra}/>" if tag in ("br", "col") else f"<{tag}{extra}></{tag}>"
    if local in ("list", "table"):
        state.containers.append(tag)
    return f"<{tag}{extra}>"
