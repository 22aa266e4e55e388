"""ListObjectsV2 pages read straight into ObjectInfo (``aios3._listing``) give what the
general reader gives once each listed dict is made an ObjectInfo: the same objects
(keys url-decoded as botocore decodes them, ETags quoted, timestamps and sizes
converted, a checksum type only where an algorithm is listed), the same rest of the
page, the same error for a body that is not XML; and ``list()`` answers the same over
aios3's connections and over botocore's path."""

from __future__ import annotations

import gc
from typing import Any

import pytest
from conftest import collections_heard

import aios3
from aios3._direct import _URL_ENCODED, Answer
from aios3._listing import listed
from aios3._xml import Plan
from aios3.testing import Server

NS = ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'

HEAD = (
    "<Name>b</Name><Prefix>a%20b/</Prefix><KeyCount>5</KeyCount><MaxKeys>1000</MaxKeys>"
    "<Delimiter>/</Delimiter>{encoding}<IsTruncated>true</IsTruncated>"
    "<NextContinuationToken>t&amp;k+n</NextContinuationToken>"
)
CONTENTS = (
    # every field, an owner, a url-encoded key with "+" and "%2B"
    "<Contents><Key>a%20b/one+two%2B%25</Key>"
    "<LastModified>2026-12-07T16:57:37.000Z</LastModified><ETag>&quot;abc&quot;</ETag>"
    "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
    "<Size>12</Size><Owner><ID>x</ID><DisplayName>y</DisplayName></Owner>"
    "<StorageClass>STANDARD</StorageClass></Contents>"
    # no modification time, no storage class, an ETag unquoted
    "<Contents><Key>plain</Key><Size>0</Size><ETag>unquoted</ETag></Contents>"
    # escaped characters; a restore status; a checksum type with no algorithm
    "<Contents><Key>&lt;&amp;&gt; %</Key><Size>5</Size><ChecksumType>COMPOSITE</ChecksumType>"
    "<LastModified>2026-12-07T16:57:37Z</LastModified>"
    "<RestoreStatus><IsRestoreInProgress>false</IsRestoreInProgress></RestoreStatus>"
    "</Contents>"
    # an empty key; an empty algorithm element still names one
    "<Contents><Key></Key><Size>1</Size><ChecksumAlgorithm></ChecksumAlgorithm></Contents>"
    # fields in another namespace: read the general way
    '<Contents><o:Key xmlns:o="urn:other">a%2Fother</o:Key><o:Size xmlns:o="urn:other">'
    "7</o:Size></Contents>"
)
TAIL = "<CommonPrefixes><Prefix>a%20b/c%2Fd/</Prefix></CommonPrefixes>"


def _page(*, namespace: bool = True, encoding: bool = True, contents: str = CONTENTS) -> bytes:
    head = HEAD.format(encoding="<EncodingType>url</EncodingType>" if encoding else "")
    ns = NS if namespace else ""
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult{ns}>'
    return (body + head + contents + TAIL + "</ListBucketResult>").encode()


@pytest.fixture(scope="module")
def plan() -> Plan:
    import botocore.session

    from aios3._core import parse_timestamp
    from aios3._xml import compile_plan

    model = botocore.session.get_session().get_service_model("s3")
    return compile_plan(model.operation_model("ListObjectsV2").output_shape, parse_timestamp)


def _both(body: bytes, plan: Plan, url_keys: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The page read the general way (each listed dict then made an ObjectInfo), and
    read straight into ObjectInfo."""
    decode = _URL_ENCODED["ListObjectsV2"] if url_keys else None
    general = Answer({}, body, plan, decode).read()
    if "Contents" in general:
        general["Contents"] = [listed("b", item) for item in general["Contents"]]
    return general, Answer({}, body, plan, decode).read("b")


@pytest.mark.parametrize("namespace", [True, False])
@pytest.mark.parametrize("encoding", [True, False])
@pytest.mark.parametrize("url_keys", [True, False])
def test_a_page_reads_as_the_general_reader_reads_it(
    plan: Plan, namespace: bool, encoding: bool, url_keys: bool
) -> None:
    general, fast = _both(_page(namespace=namespace, encoding=encoding), plan, url_keys)
    assert fast == general
    objects = fast["Contents"]
    assert all(isinstance(info, aios3.ObjectInfo) for info in objects)
    decoded = url_keys and encoding
    assert [info.key for info in objects] == (
        ["a b/one two+%", "plain", "<&> %", "", "a/other"]
        if decoded
        else ["a%20b/one+two%2B%25", "plain", "<&> %", "", "a%2Fother"]
    )
    first, second, third, fourth, _ = objects
    assert (first.size, first.etag, first.storage_class) == (12, '"abc"', "STANDARD")
    assert first.checksum_type == "FULL_OBJECT" and first.last_modified is not None
    assert first.last_modified.isoformat() == "2026-12-07T16:57:37+00:00"
    assert (second.etag, second.last_modified, second.storage_class) == ('"unquoted"', None, None)
    assert third.checksum_type is None and fourth.checksum_type is None  # (no type listed)
    assert fast["NextContinuationToken"] == "t&k+n"  # (a token is not decoded)
    assert fast["IsTruncated"] is True and fast["KeyCount"] == 5
    assert fast["CommonPrefixes"] == [{"Prefix": "a b/c/d/" if decoded else "a%20b/c%2Fd/"}]


S3 = "http://s3.amazonaws.com/doc/2006-03-01/"


@pytest.mark.parametrize(
    "page",
    [
        # a <Contents> with an xmlns of its own, under a root with none
        '<ListBucketResult><EncodingType>url</EncodingType><Contents xmlns="{s3}">'
        "<Key>a%20b</Key><Size>1</Size></Contents></ListBucketResult>",
        # a prefixed root, its children unqualified, EncodingType after the objects
        '<s:ListBucketResult xmlns:s="{s3}"><Contents><Key>a+b</Key><Size>1</Size>'
        "</Contents><EncodingType>url</EncodingType></s:ListBucketResult>",
        # one <Contents> in the root's namespace, one in another
        "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>x</Key></Contents>"
        '<Contents xmlns="urn:o"><Key>a%20b</Key><Size>1</Size></Contents></ListBucketResult>',
        # a field out of the root's namespace; a duplicate key in another one
        '<ListBucketResult xmlns="{s3}"><Contents><Key>k</Key><Size xmlns="">5</Size>'
        '<Key xmlns="urn:o">last</Key></Contents></ListBucketResult>',
    ],
)
def test_namespaces_anywhere_read_as_the_general_reader_reads_them(plan: Plan, page: str) -> None:
    """Elements are known by their local names, as the general reader knows them: no
    object is dropped, left a dict, or left with its key undecoded."""
    general, fast = _both(page.replace("{s3}", S3).encode(), plan, True)
    assert fast == general
    assert fast["Contents"] and all(isinstance(i, aios3.ObjectInfo) for i in fast["Contents"])


def test_pages_with_no_objects_or_no_body_and_broken_pages(plan: Plan) -> None:
    general, fast = _both(_page(contents=""), plan, True)
    assert fast == general and "Contents" not in fast
    assert Answer({}, b"", plan, None).read("b") == {}
    _fails_alike(_page()[:-40], plan)


def _fails_alike(body: bytes, plan: Plan) -> None:
    """``body`` is refused as invalid XML by both readers, with the same error type."""
    with pytest.raises(Exception, match="invalid XML") as fast_error:
        Answer({}, body, plan, None).read("b")
    with pytest.raises(Exception, match="invalid XML") as general_error:
        Answer({}, body, plan, None).read()
    assert type(fast_error.value) is type(general_error.value)


def test_a_thousand_objects_set_off_no_garbage_collection(plan: Plan) -> None:
    """The tree and the thousand ObjectInfo are made with the collector paused: a
    collection amid them would find nothing to free and promote them all. (One may
    be due the moment the collector is back, never with the tree alive.)"""
    entry = "<Contents><Key>k</Key><Size>1</Size><ETag>e</ETag></Contents>"
    body = _page(contents=entry * 1000)
    with collections_heard() as alive:  # at each collection, the elements alive
        page = Answer({}, body, plan, None).read("b")
    assert len(page["Contents"]) == 1000 and gc.isenabled()
    assert all(n < 100 for n in alive), alive


KEYS = ["dir/a b", "dir/plus+sign", "dir/100%", "dir/amp&lt", "dir/ünï", "dir/sub/deep", "top"]


@pytest.mark.parametrize("direct", [True, False])
async def test_list_answers_alike_on_both_paths(
    server: Server, bucket_name: str, direct: bool
) -> None:
    """Keys that url-encode, escape or nest, listed through aios3's connections and
    through botocore's path: the same objects, the same folders."""
    config = server.config(default_bucket=bucket_name, direct_requests=direct)
    async with aios3.connect(config) as s3:
        await s3.create_bucket(bucket_name)
        try:
            for key in KEYS:
                await s3.upload(key, key.encode())
            flat = [item async for item in s3.list("dir/")]
            assert [(i.key, i.size) for i in flat if isinstance(i, aios3.ObjectInfo)] == [
                (k, len(k.encode())) for k in sorted(KEYS) if k.startswith("dir/")
            ]
            assert all(isinstance(i, aios3.ObjectInfo) and i.etag for i in flat)
            folders = [item async for item in s3.list("dir/", delimiter="/")]
            assert [i.prefix if isinstance(i, aios3.Prefix) else i.key for i in folders] == [
                *sorted(k for k in KEYS if k.startswith("dir/") and "/" not in k[4:]),
                "dir/sub/",
            ]
        finally:
            await s3.delete_bucket(bucket_name, force=True)


# --- plain pages: their <Contents> read by one pattern (aios3._listing._scan) ---

SEAWEED = (
    "<Contents><Key>{key}</Key><ETag>&#34;20439f79&#34;</ETag><Size>4096</Size>"
    "<StorageClass>STANDARD</StorageClass><LastModified>2026-12-07T16:57:37Z</LastModified>"
    "</Contents>"
)
AWS = (
    "<Contents><Key>{key}</Key><LastModified>2026-12-07T16:57:37.000Z</LastModified>"
    "<ETag>&quot;9b2cf535f27731c974343645a3985328&quot;</ETag>"
    "<ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><ChecksumType>FULL_OBJECT</ChecksumType>"
    "<Size>7</Size><StorageClass>STANDARD</StorageClass></Contents>"
)
PLAIN_KEYS = [
    "lst/k0000000",
    "a%20b/one+two%2B%25",  # url-encoded (decoded where the page says so)
    "&lt;&amp;&gt; &apos;&quot;",  # escaped
    "&#x1F600;&#233;&#0065; ünï > x",  # character references, raw UTF-8, a bare ">"
    "line&#13;&#10;feed",  # an escaped carriage return stays one
    "&amp;#34; &amp;quot;",  # escaped references stay text
    "",  # an empty key
    "x]]y] ]",  # brackets, never "]]>"
]


def _plain(entry: str, keys: list[str] = PLAIN_KEYS) -> str:
    return "".join(entry.format(key=key) for key in keys)


def _doc(contents: str, *, before: str = "", after: str = TAIL, decl: str | None = None) -> bytes:
    head = HEAD.format(encoding="<EncodingType>url</EncodingType>")
    decl = '<?xml version="1.0" encoding="UTF-8"?>\n' if decl is None else decl
    page = f"{decl}<ListBucketResult{NS}>{head}{before}{contents}{after}</ListBucketResult>"
    return page.encode()


@pytest.mark.parametrize("url_keys", [True, False])
@pytest.mark.parametrize(
    "body",
    [
        _doc(_plain(SEAWEED)),
        _doc(_plain(AWS)),
        _doc(_plain(SEAWEED) * 150),  # a thousand-odd objects
        _doc(_plain(AWS), before=TAIL, after=""),  # the folders first
        _doc(_plain(SEAWEED), decl="<?xml version='1.0' encoding='utf-8'?>"),
        _doc(_plain(SEAWEED), decl=""),
        _doc("<Contents><Key>k</Key><Foo>x</Foo><Size>1</Size></Contents>"),  # an unknown field
        _doc(_plain(SEAWEED.replace("&#34;", ""))),  # ETags unquoted: quoted as read
        _doc(_plain(AWS.replace("&quot;9b", "W/&quot;9b"))),  # weak ETags
        _doc(  # each object its own time
            "".join(
                SEAWEED.format(key=f"k{n}").replace(":37Z", f":{n:02d}.{n}Z") for n in range(40)
            )
        ),
    ],
)
def test_plain_pages_are_scanned_and_read_as_the_general_reader_reads_them(
    plan: Plan, body: bytes, url_keys: bool
) -> None:
    from aios3._listing import _scan

    assert _scan(body) is not None  # (the pattern read them: else this test tests nothing)
    general, fast = _both(body, plan, url_keys)
    assert fast == general
    assert fast["Contents"] and all(isinstance(i, aios3.ObjectInfo) for i in fast["Contents"])
    assert fast["CommonPrefixes"] and fast["NextContinuationToken"] == "t&k+n"


ODD = [
    # not plain: the XML parser reads the page, and it reads as it did
    _doc(_plain(SEAWEED).replace("</Contents><Contents>", "</Contents>\n  <Contents>")),
    _doc(_plain(SEAWEED, ["a"]) + _plain(AWS, ["b"])),  # two shapes
    _doc(_plain(SEAWEED, ["a"]) + TAIL + _plain(SEAWEED, ["b"])),  # folders between
    _doc(_plain(SEAWEED, ["a"]) + "<!-- c --><Contents><Key>b</Key><Size>1</Size></Contents>"),
    _doc(_plain(SEAWEED, ["<![CDATA[x<y]]>", "b"])),
    _doc(_plain(SEAWEED, ["raw\rreturn", "b"])),  # the parser makes it a line feed
    _doc(_plain(AWS, ["a"]).replace("<Size>", "<Owner><ID>i</ID></Owner><Size>")),
    _doc("<Contents><Key>a</Key><Key>b</Key><Size>1</Size></Contents>"),  # a field twice
    _doc("<Contents><Key>only</Key></Contents>"),  # one field
    _doc("<Contents><Key>a</Key><ETag/></Contents><Contents><Key>b</Key><ETag/></Contents>"),
    _doc("<Contents><Size>1</Size><ETag>e</ETag></Contents>"),  # no key
    _doc(
        _plain(SEAWEED, ["a"]), before='<s:Contents xmlns:s="urn:o"><s:Key>z</s:Key></s:Contents>'
    ),
    _doc(_plain(SEAWEED, ["caf\xe9"]), decl='<?xml version="1.0" encoding="ISO-8859-1"?>'),
]
ODD[-1] = ODD[-1].decode().encode("latin-1")
# plain objects where no object is: the page around them decides (a hostile store's)
C = "<Contents><Key>a</Key><Size>1</Size></Contents>"
ODD += [
    page.encode()
    for page in (
        f"<L><!--{C}--></L>",
        f"<L><Name><![CDATA[{C}]]></Name></L>",
        f"<L><?p {C}?></L>",
        f"<L><X>{C}</X></L>",
        f"<L><CommonPrefixes><Prefix>p</Prefix>{C}</CommonPrefixes></L>",
        f"<L><NextContinuationToken>ab{C}cd</NextContinuationToken></L>",
        f'<!DOCTYPE L [<!ENTITY e "{C}">]><L>&e;&e;</L>',
        f'<!DOCTYPE L [<!ENTITY e "{C}">]><L/>',
        "<L><Contents><Key>&#" + "0" * 5000 + "65;</Key><Size>1</Size></Contents></L>",
    )
]
# UTF-16, the bytes of plain objects hidden in a text
_HIDDEN = b"<Contents><Key>ab</Key><Size>1</Size></Contents>".decode("utf-16-le")
ODD.append(f"<L><Name>{_HIDDEN}</Name></L>".encode("utf-16"))
BROKEN = [
    # the parser refuses them, on either path: the same error
    _doc(_plain(SEAWEED, ["&nope;"])),
    _doc(_plain(SEAWEED, ["&#0;"])),
    _doc(_plain(SEAWEED, ["&#X41;"])),
    _doc(_plain(SEAWEED, ["&#xD800;"])),
    _doc(_plain(SEAWEED, ["a & b"])),
    _doc(_plain(SEAWEED, ["ctl\x01"])),
    _doc(_plain(SEAWEED, ["end]]>"])),
    _doc(_plain(SEAWEED, ["\uffff"])),
    _doc(_plain(SEAWEED, ["a"])).replace(b"<Key>a", b"<Key>\xff"),  # not UTF-8
    _doc(_plain(SEAWEED))[:-30],  # cut short after the objects
    _doc(_plain(SEAWEED), after="<CommonPrefixes><Prefix>x</CommonPrefixes>"),
    # plain objects whose cutting out would mend a broken page
    *(
        page.encode()
        for page in (
            f"<L><Is{C}Truncated>true</IsTruncated></L>",
            f"<L{C}/>",
            f"<L><Name>&am{C}p;</Name></L>",
            f'<L a="{C}"/>',
            f"{C}<L/>",
            f"<L/>{C}",
            f'{C}<?xml version="1.0"?><L/>',
            "<L><Contents><Key>&#" + "1" * 5000 + ";</Key><Size>1</Size></Contents></L>",
        )
    ),
]


@pytest.mark.parametrize("body", ODD)
def test_pages_not_plain_are_left_to_the_parser(plan: Plan, body: bytes) -> None:
    from aios3._listing import _scan

    scanned = _scan(body) is not None
    assert not scanned or b"<s:Contents" in body or b"<L>" in body  # (those: not as objects)
    if b"<Contents><Size>" in body:  # no key: an error on either path
        with pytest.raises(KeyError):
            Answer({}, body, plan, None).read("b")
        return
    general, fast = _both(body, plan, True)
    assert fast == general


@pytest.mark.parametrize("body", BROKEN)
def test_pages_the_parser_refuses_fail_alike(plan: Plan, body: bytes) -> None:
    _fails_alike(body, plan)


def test_the_shapes_remembered_are_bounded(plan: Plan) -> None:
    """A store answering a new shape each page (fields in ever new orders, unknown
    fields) never grows what is remembered past its bound; its pages still read."""
    from aios3._listing import _SHAPES

    for i in range(100):
        body = _doc(f"<Contents><Key>k</Key><F{i}>x</F{i}><Size>1</Size></Contents>")
        general, fast = _both(body, plan, True)
        assert fast == general and fast["Contents"][0].key == "k"
    assert len(_SHAPES) <= 64
