"""Account helpers shared by the integration tests."""
import itertools
import os
import uuid

from conftest import Client

_seq = itertools.count(1)


def unique_email(prefix="u"):
    return "%s%d.%s@example.com" % (prefix, next(_seq), uuid.uuid4().hex[:8])


async def register(c, type_="user", email=None, password="correct horse", first="Ann", last="Lee"):
    email = email or unique_email(type_)
    r = await c.call("account.register", {
        "firstName": first, "lastName": last, "type": type_, "password": password,
        "identities": [{"type": "email", "value": email}]})
    assert r["ok"], r
    return r["data"], email


async def login(c, email, password="correct horse"):
    r = await c.call("auth.login", {"identity": email, "password": password})
    assert r["ok"], r
    state = await c.event("session.state")
    return r["data"], state


async def new_session(node, type_="user", codec="json", **kw):
    """Registers a fresh account and returns (client, account, token)."""
    c = await Client.connect(node.ws_url, codec=codec)
    acct, email = await register(c, type_, **kw)
    data, _ = await login(c, email)
    c.email = email
    return c, data["account"], data["token"]
