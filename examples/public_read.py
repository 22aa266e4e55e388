"""Anonymous reads of a public object, as the "read a public dataset" tutorials teach:
one client writes an object with the canned ACL ``public-read``, then a client with no
credentials at all (``anonymous=True``: unsigned requests) and a plain browser-style GET
read it, while a private object stays refused to them.

    python examples/public_read.py             # embedded moto server on 127.0.0.1
"""

from __future__ import annotations

import asyncio

import aiohttp

import aios3
from aios3.testing import moto_server

BUCKET = "open-data"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


async def main() -> None:
    with moto_server() as server:
        # The owner, with credentials, publishes one object and keeps another private.
        async with aios3.connect(server.config(default_bucket=BUCKET)) as owner:
            await owner.create_bucket(BUCKET, exist_ok=True)
            await owner.upload(
                "datasets/cities.csv",
                b"city,population\nLagos,15388000\nLima,10719000\n",
                content_type="text/csv",
                extra={"ACL": "public-read"},  # the canned ACL: anyone may read it
            )
            await owner.upload("internal/budget.csv", b"secret,numbers\n")
            acl = await owner.client.get_object_acl(Bucket=BUCKET, Key="datasets/cities.csv")
            public = [g for g in acl["Grants"] if g["Grantee"].get("URI") == ALL_USERS]
            assert [g["Permission"] for g in public] == ["READ"]
            print("datasets/cities.csv is public-read: AllUsers may READ it")

            # A reader with no credentials: every request goes unsigned.
            async with aios3.connect(
                endpoint=server.endpoint,
                region=server.region,
                anonymous=True,
                default_bucket=BUCKET,
            ) as reader:
                info = await reader.head("datasets/cities.csv")
                data = await reader.get_bytes("datasets/cities.csv")
                assert data.startswith(b"city,population") and info.size == len(data)
                print(f"anonymous head + get: {info.size} bytes of {info.content_type}")
                async with reader.stream("datasets/cities.csv", start=16) as body:
                    rows = (await body.read()).decode().splitlines()
                assert rows == ["Lagos,15388000", "Lima,10719000"]
                print("anonymous ranged stream:", rows)
                try:
                    await reader.get_bytes("internal/budget.csv")
                    raise AssertionError("a private object was readable anonymously")
                except aios3.AccessDenied as err:
                    print(f"anonymous read of internal/budget.csv: refused ({err.status})")

            # What a browser does with a link: a plain GET, no signature.
            async with aiohttp.ClientSession() as http:
                url = f"{server.endpoint}/{BUCKET}/datasets/cities.csv"
                async with http.get(url) as resp:
                    assert resp.status == 200 and await resp.read() == data
                async with http.get(f"{server.endpoint}/{BUCKET}/internal/budget.csv") as resp:
                    assert resp.status == 403
                print("plain GET: the public object 200, the private one 403")

            await owner.delete_bucket(BUCKET, force=True)
            print("verified: public-read objects read anonymously, private ones refused")


if __name__ == "__main__":
    asyncio.run(main())
