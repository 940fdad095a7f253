"""Host and Origin checks on real loopback HTTP: DNS rebinding and cross-site POSTs are refused with JSON."""

from __future__ import annotations

import httpx
import pytest

from tailtag.inference import Tagger
from tailtag.serve import BackgroundServer, Limits, create_app
from tailtag.serve.guard import host_name


def _post(url: str, body: bytes, **headers: str) -> httpx.Response:
    return httpx.post(f"{url}/v1/tags", files=[("images", ("a.jpg", body))], headers=headers, timeout=30)


def test_foreign_host_is_refused_with_the_flag_to_set(service, images):
    body = images[0].read_bytes()
    for path in ("/healthz", "/v1/labels", "/"):
        refused = httpx.get(f"{service}{path}", headers={"Host": "evil.example"})
        assert refused.status_code == 400, path
        error = refused.json()["error"]
        assert error["code"] == "host_not_allowed" and "'evil.example'" in error["message"]
        assert "--allowed-host evil.example" in error["fix"]
    assert _post(service, body, Host="evil.example:8000").status_code == 400  # a rebound page's POST too
    for host in ("localhost", "LOCALHOST:1234", "127.0.0.1", "[::1]:80"):
        assert httpx.get(f"{service}/healthz", headers={"Host": host}).status_code == 200, host
    assert httpx.get(f"{service}/healthz").json()["rejected"]["host_not_allowed"] >= 4


def test_cross_origin_post_is_refused_same_origin_and_scripts_pass(service, images):
    body = images[0].read_bytes()
    refused = _post(service, body, Origin="https://evil.example")
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert error["code"] == "origin_not_allowed" and "--allowed-origin https://evil.example" in error["fix"]
    assert _post(service, body, Origin="null").status_code == 403  # sandboxed frames and file:// pages
    assert _post(service, body, Origin=service).status_code == 200  # the service's own page
    assert _post(service, body).status_code == 200  # curl and scripts send no Origin
    assert httpx.get(f"{service}/v1/labels", headers={"Origin": "https://evil.example"}).status_code == 200


def test_allowed_hosts_and_origins_are_configurable(small_run, images):
    body = images[0].read_bytes()
    app = create_app(
        Tagger.load(small_run),
        Limits(),
        allowed_hosts=["127.0.0.1", "*.corp.example"],
        allowed_origins=["https://app.example.com"],
    )
    with BackgroundServer(app) as server:
        assert httpx.get(f"{server.url}/healthz", headers={"Host": "tags.corp.example"}).status_code == 200
        assert httpx.get(f"{server.url}/healthz", headers={"Host": "localhost"}).status_code == 400  # not listed
        assert _post(server.url, body, Origin="https://app.example.com").status_code == 200
        assert _post(server.url, body, Origin="https://other.example.com").status_code == 403
    app = create_app(Tagger.load(small_run), Limits(), allowed_hosts=["*"], allowed_origins=["*"])
    with BackgroundServer(app) as server:
        assert _post(server.url, body, Host="anything.example", Origin="https://evil.example").status_code == 200


@pytest.mark.parametrize(
    ("header", "name"),
    [("127.0.0.1:8000", "127.0.0.1"), ("[::1]:8000", "::1"), ("::1", "::1"), ("Example.COM", "example.com"), ("", "")],
)
def test_host_name_strips_port_and_brackets(header, name):
    assert host_name(header) == name
