"""S3's XML answers read as botocore's rest-xml parser reads them, at a tenth of its
cost: the output shape is compiled once into a plan (XML tag -> member, converter),
the body is built into a tree by ElementTree's C parser, and the tree is walked once.

botocore spends ~60 ms of CPU on a ListObjectsV2 page of 1,000 keys (a generic walk
of the model per node); this reads the same page into the same dict in ~7 ms. What
it keeps of botocore's semantics: member names from ``locationName``, flattened and
wrapped lists, nested structures, booleans (``"true"``), integers, timestamps (through
the same parser botocore was given), blobs (base64) and empty elements as ``""``.
Members read from headers are not here: the direct path reads those itself.

The other way, a request's XML body (CompleteMultipartUpload's list of parts) is
written as botocore's rest-xml serializer writes it, from a plan of the input shape
(:func:`compile_request`): a root element with the shape's namespace, and members that
are flattened lists of structures of strings and integers, in the order given. A
shape of any other form has no plan (botocore writes that body).
"""

from __future__ import annotations

import base64
import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = [
    "Plan",
    "RequestPlan",
    "compile_plan",
    "collector_paused",
    "compile_request",
    "load_parser",
    "parse_root",
    "parse_xml",
    "structure",
    "well_formed",
    "write_xml",
]

Convert = Callable[[str], Any]


def _boolean(text: str) -> bool:
    return text == "true"


def _blob(text: str) -> bytes:
    return base64.b64decode(text)


@dataclass(slots=True)
class _Member:
    name: str  # the member's name in the parsed dict
    convert: Convert | None  # a scalar's converter (None: a structure or list)
    plan: Plan | None = None  # a structure's plan, or a list's items' plan
    listed: bool = False  # a flattened list: every occurrence is one item
    wrapped: bool = False  # a wrapped list: the element's children are the items
    kind: str = ""  # a scalar's (or a list's scalar items') type name: how to convert


@dataclass(slots=True)
class Plan:
    """How to read one structure's elements: tag -> member (bare tags; a namespaced
    tag is looked up once and remembered under its full name)."""

    members: dict[str, _Member] = field(default_factory=dict)

    def table(self) -> dict[str, Any]:
        """The plan as plain data (for the first requests' tables, see ``._first``):
        tag -> [name, kind, structure's table or None, listed, wrapped]."""
        return {
            tag: [m.name, m.kind, None if m.plan is None else m.plan.table(), m.listed, m.wrapped]
            for tag, m in self.members.items()
            if tag[:1] != "{"  # a namespaced tag remembered: found again from the bare one
        }

    @classmethod
    def from_table(cls, table: dict[str, Any], timestamp: Convert) -> Plan:
        """The plan from its :meth:`table` (raises on a table of another layout)."""
        plan = cls()
        for tag, (name, kind, inner, listed, wrapped) in table.items():
            if not isinstance(name, str) or (not kind) == (inner is None):
                raise ValueError(f"a plan member of another layout: {tag!r}")
            plan.members[tag] = _Member(
                name,
                _scalar(kind, timestamp) if kind else None,
                None if inner is None else cls.from_table(inner, timestamp),
                listed=bool(listed),
                wrapped=bool(wrapped),
                kind=kind,
            )
        return plan

    def member(self, tag: str) -> _Member | None:
        found = self.members.get(tag)
        if found is None and tag[:1] == "{":
            found = self.members.get(tag.rpartition("}")[2])
            if found is not None:
                self.members[tag] = found
        return found


def compile_plan(shape: Any, timestamp: Convert) -> Plan:
    """The plan for botocore structure ``shape``'s body members."""
    plan = Plan()
    for name, member in shape.members.items():
        if member.serialization.get("location"):
            continue  # a header, the status code: read elsewhere
        plan.members[_tag(name, member)] = _compile_member(name, member, timestamp)
    return plan


def _tag(name: str, shape: Any) -> str:
    # botocore's _member_key_name: a flattened list is named by its member's name.
    if shape.type_name == "list" and shape.serialization.get("flattened"):
        item_name: str | None = shape.member.serialization.get("name")
        if item_name is not None:
            return item_name
    tag: str = shape.serialization.get("name", name)
    return tag


def _compile_member(name: str, shape: Any, timestamp: Convert) -> _Member:
    kind = shape.type_name
    if kind == "structure":
        return _Member(name, None, compile_plan(shape, timestamp))
    if kind == "list":
        item = _compile_member(name, shape.member, timestamp)
        flattened = bool(shape.serialization.get("flattened"))
        return _Member(
            name,
            item.convert,
            item.plan,
            listed=flattened,
            wrapped=not flattened,
            kind=item.kind,
        )
    return _Member(name, _scalar(kind, timestamp), kind=kind)


def _scalar(kind: str, timestamp: Convert) -> Convert:
    if kind in ("integer", "long"):
        return int
    if kind in ("float", "double"):
        return float
    if kind == "boolean":
        return _boolean
    if kind == "timestamp":
        return timestamp
    if kind == "blob":
        return _blob
    if kind in ("string", "character"):
        return str
    raise TypeError(f"no XML reader for {kind} members")


def load_parser() -> None:
    """Load the XML parser's modules (~2 ms, once a process). A listing calls this
    while its first request is out, so that the wait for the store covers it."""
    import xml.etree.ElementTree  # noqa: F401


def parse_xml(body: bytes, plan: Plan) -> dict[str, Any]:
    """``body``'s root element read with ``plan``; raises botocore's
    ``ResponseParserError`` for a body that is not XML, as botocore's parser does."""
    if not body:
        return {}
    with collector_paused():
        root = parse_root(body)
        out = structure(root, plan)
        del root  # freed before the collector is back: none of it is ever seen
    return out


def parse_root(body: bytes) -> Element:
    """``body`` built into a tree, its root returned; botocore's ``ResponseParserError``
    for a body that is not XML. Build and walk it with the collector paused
    (:func:`collector_paused`)."""
    from xml.etree.ElementTree import ParseError, XMLParser

    parser = XMLParser()
    try:
        parser.feed(body)
        root: Element = parser.close()
    except ParseError as exc:
        from botocore.parsers import ResponseParserError

        raise ResponseParserError(
            f"Unable to parse response ({exc}), invalid XML received: {body[:200]!r}"
        ) from exc
    return root


def parse_tree(body: bytes, encoding: str | None = None) -> Element | None:
    """``body`` built into a tree, its root returned; ``None`` for a body that is not
    XML (which :func:`parse_root` then describes). ``encoding``: read as that, whatever
    the body declares."""
    from xml.etree.ElementTree import ParseError, XMLParser

    parser = XMLParser(encoding=encoding)
    try:
        parser.feed(body)
        root: Element = parser.close()
    except ParseError:
        return None
    return root


def well_formed(body: bytes) -> bool:
    """Whether ``body`` parses as XML (a body cut short does not)."""
    return parse_tree(body) is not None


_pause_lock = threading.Lock()
_pausing = 0  # parses under way that paused the collector (threads, event loops)


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while a page is built and walked.

    A 1,000-key page is ~7,000 elements, every one tracked by the collector; the
    collections they set off found nothing to free (a tree has no cycles; refcounting
    frees it) but promoted the live tree, so a full collection of the whole process
    (~20 ms with botocore loaded) came every ~12 pages: 26% of a 100k-key listing's CPU.
    Nothing inside awaits, so the pause never spans other tasks' work. Parses in several
    threads at once share one pause, and the last one out restores the collector; one
    that finds it off (the program turned it off) leaves it alone.
    """
    global _pausing
    with _pause_lock:
        ours = _pausing > 0 or gc.isenabled()
        if ours:
            _pausing += 1
            gc.disable()
    try:
        yield
    finally:
        if ours:
            with _pause_lock:
                _pausing -= 1
                if _pausing == 0:
                    gc.enable()


def structure(node: Iterable[Element], plan: Plan) -> dict[str, Any]:
    """The members ``plan`` reads from the elements of ``node`` (an element's children,
    or a list of elements)."""
    # The hot loop of a listing (a thousand objects of six elements a page): lookups
    # and conversions inlined.
    out: dict[str, Any] = {}
    members = plan.members
    for child in node:
        member = members.get(child.tag) or plan.member(child.tag)
        if member is None:
            continue
        if member.wrapped:
            out[member.name] = [_value(item, member) for item in child]
            continue
        convert = member.convert
        if convert is not None:
            value = convert(child.text or "")
        else:
            assert member.plan is not None
            value = structure(child, member.plan)
        if member.listed:
            items = out.get(member.name)
            if items is None:
                out[member.name] = [value]
            else:
                items.append(value)
        else:
            out[member.name] = value
    return out


def _value(node: Element, member: _Member) -> Any:
    if member.convert is not None:
        return member.convert(node.text or "")
    assert member.plan is not None
    return structure(node, member.plan)


# -- request bodies --------------------------------------------------------------------

_WRITTEN = frozenset({"string", "integer", "long"})  # the scalars a request plan writes
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})  # as ElementTree's text


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """How to write one structure parameter as an XML body: its root element (and
    namespace); per list member (a flattened list of structures) the element each item
    is written as and that item's fields, ``(name, "string" | "integer")`` in the
    model's order; per boolean member (DeleteObjects' ``Quiet``), its element."""

    root: str
    namespace: str
    lists: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...]
    flags: tuple[tuple[str, str], ...] = ()

    def table(self) -> tuple[Any, ...]:
        return (self.root, self.namespace, self.lists, self.flags)

    @classmethod
    def from_table(cls, table: tuple[Any, ...]) -> RequestPlan:
        root, namespace, lists, flags = table
        return cls(root, namespace, tuple(lists), tuple(tuple(f) for f in flags))

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` is of the form this plan writes, as botocore would write
        it: every list given, each of one item or more, every item a field or more,
        every field a printable string, not empty (botocore writes an empty element
        as ``<a />``), or (for an integer field) an int; flags ``True`` or ``False``."""
        if not isinstance(value, dict) or not all(m in value for m, _, _ in self.lists):
            return False
        lists = {member: dict(fields) for member, _, fields in self.lists}
        flags = {member for member, _ in self.flags}
        for member, items in value.items():
            if member in flags:
                if type(items) is not bool:
                    return False
                continue
            fields = lists.get(member)
            if fields is None or not isinstance(items, list) or not items:
                return False
            for item in items:
                if not isinstance(item, dict) or not item or not fields.keys() >= item.keys():
                    return False
                for name, field_value in item.items():
                    if fields[name] == "integer":
                        if type(field_value) is not int:
                            return False
                    elif type(field_value) is not str or not field_value.isprintable():
                        return False  # (a control character: botocore writes that one)
                    elif not field_value:
                        return False
        return True


def compile_request(shape: Any) -> RequestPlan | None:
    """The plan of a structure parameter written as a request's XML body; ``None``
    where its form is not the one :class:`RequestPlan` writes. An item's field of
    another type (a timestamp) is left out of the plan: an item that carries one is
    not accepted, and botocore writes it."""
    namespace = shape.serialization.get("xmlNamespace", {})
    if shape.type_name != "structure" or not isinstance(namespace, dict):
        return None
    lists = []
    flags = []
    for member, member_shape in shape.members.items():
        element = member_shape.serialization.get("name", member)
        if member_shape.type_name == "boolean" and set(member_shape.serialization) <= {"name"}:
            flags.append((member, element))
            continue
        if member_shape.type_name != "list" or not member_shape.serialization.get("flattened"):
            return None
        item = member_shape.member
        if item.type_name != "structure":
            return None
        fields = []
        for name, field_shape in item.members.items():
            if field_shape.type_name not in _WRITTEN:
                continue  # (of another type, a timestamp: an item with one is botocore's)
            if field_shape.serialization:
                return None  # (a field named apart from its member, an attribute)
            fields.append((name, "string" if field_shape.type_name == "string" else "integer"))
        lists.append((member, element, tuple(fields)))
    return RequestPlan(
        shape.serialization.get("name", shape.name),
        namespace.get("uri", ""),
        tuple(lists),
        tuple(flags),
    )


def write_xml(plan: RequestPlan, value: dict[str, Any]) -> bytes:
    """``value`` (accepted by ``plan``) written as botocore writes it."""
    out = [f'<{plan.root} xmlns="{plan.namespace}">' if plan.namespace else f"<{plan.root}>"]
    elements = {member: element for member, element, _ in plan.lists}
    flags = dict(plan.flags)
    for member, items in value.items():  # in the order given, as botocore writes them
        if member in flags:
            out.append(f"<{flags[member]}>{'true' if items else 'false'}</{flags[member]}>")
            continue
        element = elements[member]
        for item in items:
            out.append(f"<{element}>")
            for name, field_value in item.items():
                text = str(field_value).translate(_ESCAPES)
                out.append(f"<{name}>{text}</{name}>")
            out.append(f"</{element}>")
    out.append(f"</{plan.root}>")
    return "".join(out).encode()
