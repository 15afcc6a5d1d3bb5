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
from typing import Final, cast

from lxml import etree

from fhir_facade.ccda.cda import HL7V3, child, text_of
from fhir_facade.ccda.context import ConversionContext

__all__ = ["XHTML", "narrative_div", "original_text", "resolve_reference"]

XHTML: Final = "http://www.w3.org/1999/xhtml"
_DIV_OPEN: Final = f'<div xmlns="{XHTML}">'
_ATTRIBUTE: Final = re.compile(r'([^\s=]+)="([^"]*)"')
_ID_ATTRIBUTE: Final = re.compile(r'\s+ID="([^"]*)"')
# Only tags and whitespace: the rendered narrative has no text (checked without building the stripped text).
_NO_TEXT: Final = re.compile(r"(?:<[^>]*>|\s+)*+")
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
# Renderings of tags that never depend on context: the static ones above, then, remembered as met (up to a
# bound), tags with attributes but no ID (``<content styleCode="Bold">``, ``<td colspan="2">``), which repeat
# across documents.
_KNOWN: dict[str, str] = dict(_STATIC)
_KNOWN_LIMIT: Final = len(_STATIC) + 4096
# A start or end tag (any prefix; lxml writes attributes with double quotes), a comment, or a PI, except the
# tags whose rendering is the tag itself (``<td>``, ``</tr>``, ``<br/>``): most of a table-heavy narrative,
# left in place by not matching them at all.
_UNCHANGED: Final = sorted(tag[1:] for tag, rendered in _STATIC.items() if tag == rendered)
# Elements with an ``ID`` in section narratives (the section's ``text`` included), in document order.
_IDENTIFIED: Final = etree.XPath("//v3:section/v3:text/descendant-or-self::*[@ID]", namespaces={"v3": HL7V3})


def _alternatives(words: list[str]) -> str:
    """A regular expression matching exactly ``words``, factored by common prefix (``t(?:d>|h>|r>)``).

    The lookahead below runs at every ``<`` of every narrative; the re module tries a flat alternation's
    branches one by one, a factored one rejects on the first differing character.
    """
    if "" in words:  # one word ends here: the longer ones become optional
        longer = [w for w in words if w]
        return f"(?:{_alternatives(longer)})?" if longer else ""
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[0], []).append(word[1:])
    branches = [re.escape(first) + _alternatives(tails) for first, tails in sorted(groups.items())]
    return branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"


_MARKUP: Final = re.compile(
    r"<(?!" + _alternatives(_UNCHANGED) + r")"
    r"(?:(/?)(?:[\w.-]++:)?([\w.-]+)((?:\s+[^\s=/>]+=\"[^\"]*\")*)\s*(/?)>|!--.*?-->|\?.*?\?>)",
    re.DOTALL,
)


def _index(ctx: ConversionContext) -> dict[str, etree._Element]:
    if ctx.narrative_ids is None:
        ids: dict[str, etree._Element] = {}
        for element in cast("list[etree._Element]", _IDENTIFIED(ctx.root)):
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
        lambda match: _KNOWN.get(match[0]) or _rewrite(match, state), serialized[head + 1 : tail]
    )
    if _NO_TEXT.fullmatch(body):
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
    """A tag not in :data:`_KNOWN`: rendered, and remembered when its rendering cannot depend on context."""
    closing, local, attributes, empty = match.group(1, 2, 3, 4)
    if local is None or local in _DYNAMIC:
        return _render_tag(closing, local, attributes, empty, state)
    if ' ID="' in match[0]:
        return _with_id(match[0], closing, local, attributes, empty, state)
    rendered = _render_tag(closing, local, attributes, empty, state)
    if len(_KNOWN) < _KNOWN_LIMIT:
        _KNOWN[match[0]] = rendered
    return rendered


def _with_id(tag: str, closing: str, local: str, attributes: str, empty: str, state: _State) -> str:
    """A context-free tag with an ``ID``: the remembered rendering of the same tag without it, ``id`` added.

    IDs are unique, so the tags carrying them never repeat; without their ID they do (``<content>``,
    ``<tr>``), and the ``id`` attribute always comes first in the rendering.
    """
    found = _ID_ATTRIBUTE.search(attributes)
    if closing or found is None:
        return _render_tag(closing, local, attributes, empty, state)
    plain = tag.replace(found[0], "", 1)
    rendered = _KNOWN.get(plain)
    if rendered is None:
        rest = attributes[: found.start()] + attributes[found.end() :]
        rendered = _render_tag(closing, local, rest, empty, state)
        if len(_KNOWN) < _KNOWN_LIMIT:
            _KNOWN[plain] = rendered
    ident = found[1].strip()
    if not ident:
        return rendered
    name = _TAGS.get(local, "span")
    return f'<{name} id="{ident}"' + rendered[len(name) + 1 :]


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
