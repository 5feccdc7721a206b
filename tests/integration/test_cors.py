"""CORS on the REST shim: preflights and Access-Control-Allow-Origin for the
origins in allowed_origins, nothing for the others."""
import requests

ALLOWED = "http://app.example:8000"


def test_preflight_and_allow_origin_for_listed_origins(node_factory):
    node = node_factory(["--allowed_origins", "http://other.example, " + ALLOWED])
    r = requests.options(node.url + "/gigs", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type"})
    assert r.status_code == 204, r.text
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    allowed_headers = r.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert r.headers["Vary"] == "Origin"

    # the actual request: its answer (an error here) carries the header too
    r = requests.get(node.url + "/accounts/0123456789abcdef01234567", headers={"Origin": ALLOWED})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == ALLOWED

    # another origin: no CORS headers, and OPTIONS stays what it was (405)
    r = requests.options(node.url + "/gigs", headers={
        "Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 405
    assert "Access-Control-Allow-Origin" not in r.headers
    r = requests.get(node.url + "/healthz", headers={"Origin": "http://evil.example"})
    assert "Access-Control-Allow-Origin" not in r.headers
    # no Origin (not a browser): no CORS headers
    assert "Access-Control-Allow-Origin" not in requests.get(node.url + "/healthz").headers


def test_no_origins_configured_means_no_cors(node):
    r = requests.options(node.url + "/gigs", headers={
        "Origin": ALLOWED, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 405
    assert "Access-Control-Allow-Origin" not in r.headers


def test_star_allows_any_origin(node_factory):
    node = node_factory(["--allowed_origins", "*"])
    r = requests.options(node.url + "/accounts", headers={
        "Origin": "http://x.example", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "http://x.example"
