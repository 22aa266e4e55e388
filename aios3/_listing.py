"""A ListObjectsV2 page read straight into the :class:`ObjectInfo` items that
``S3.list()`` yields.

The general reader (:func:`~aios3._xml.parse_xml`) makes a dict per listed object,
which ``list()`` then made into an ``ObjectInfo``: two passes and a thousand dicts a
page. Here each ``<Contents>`` element's fields are picked by their tags into a row,
and each row becomes an ``ObjectInfo`` directly, with the converters the page's plan
holds (a third less CPU per page: 2.3 ms against 3.1 past the XML parser's own 2.2,
on a 1,000-key page). The rest of the page (the continuation token, the common
prefixes, ``IsTruncated``...) is read by the general reader, so the page is the dict
botocore's parser returns, but for its ``Contents``. Elements are known by their local
names, in whatever namespace (a ``<Contents>`` with an ``xmlns`` of its own, a prefixed
root with unqualified children), as the general reader knows them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ._info import ObjectInfo, quote_etag
from ._xml import Plan, collector_paused, parse_root, structure

__all__ = ["listed", "read_objects"]

# the fields of a <Contents> that a listed ObjectInfo carries, in a row's order
_FIELDS = (
    "Key",
    "Size",
    "ETag",
    "LastModified",
    "StorageClass",
    "ChecksumAlgorithm",
    "ChecksumType",
)


def listed(bucket: str, item: Mapping[str, Any]) -> ObjectInfo:
    """A listed object (an item of the ``Contents`` botocore's parser returns)."""
    return ObjectInfo.listed(
        bucket,
        item["Key"],
        item.get("Size"),
        quote_etag(item.get("ETag")),
        item.get("LastModified"),
        item.get("StorageClass"),
        item.get("ChecksumType") if item.get("ChecksumAlgorithm") else None,
    )


def read_objects(body: bytes, plan: Plan, bucket: str, *, url_keys: bool) -> dict[str, Any]:
    """A ListObjectsV2 page ``body`` read with ``plan`` (the operation's output plan):
    what :func:`~aios3._xml.parse_xml` returns, but with ``Contents`` a list of
    :class:`ObjectInfo` of ``bucket``. ``url_keys``: the keys are url-decoded where the
    page says ``EncodingType`` url (aios3 asked for it, as botocore does)."""
    if not body:
        return {}
    contents = plan.member("Contents")
    assert contents is not None and contents.plan is not None
    item_plan = contents.plan
    size, when = _convert(item_plan, "Size"), _convert(item_plan, "LastModified")
    with collector_paused():
        root = parse_root(body)
        tag = root.tag
        ns = tag[: tag.index("}") + 1] if tag[:1] == "{" else ""
        # tag -> place in a row, for the fields the plan reads. By local name, in any
        # namespace, as the general reader reads them; the root's own tags (those of
        # nearly every page) are found at once.
        index: dict[str, int] = {}
        for i, name in enumerate(_FIELDS):
            if item_plan.member(name) is not None:
                index[name] = index[ns + name] = i
        contents_tag = ns + "Contents"
        rows: list[list[Any] | dict[str, Any]] = []
        rest = []
        for child in root:
            if child.tag != contents_tag and plan.member(child.tag) is not contents:
                rest.append(child)
                continue
            row: list[Any] = [None] * len(_FIELDS)
            for field in child:
                tag = field.tag
                place = index.get(tag)
                if place is None and tag[:1] == "{":
                    place = index.get(tag.rpartition("}")[2])
                if place is not None:
                    row[place] = field.text or ""
            # no <Key>: the general way (which says so)
            rows.append(row if row[0] is not None else structure(child, item_plan))
        out = structure(rest, plan)
        del root, rest
        decode: Callable[[str], str] | None = None
        if url_keys and out.get("EncodingType") == "url":
            from urllib.parse import unquote_plus

            decode = unquote_plus
        objects = []
        make = ObjectInfo.listed
        for fields in rows:
            if isinstance(fields, dict):
                if decode is not None:
                    fields["Key"] = decode(fields["Key"])
                objects.append(listed(bucket, fields))
                continue
            key, length, etag, modified, storage, algorithm, kind = fields
            if decode is not None and ("%" in key or "+" in key):
                key = decode(key)
            objects.append(
                make(
                    bucket,
                    key,
                    None if length is None else size(length),
                    quote_etag(etag),
                    None if modified is None else when(modified),
                    storage,
                    kind if algorithm is not None else None,
                )
            )
        if rows:
            out["Contents"] = objects
    return out


def _convert(plan: Plan, name: str) -> Any:
    member = plan.member(name)
    assert member is not None and member.convert is not None
    return member.convert
