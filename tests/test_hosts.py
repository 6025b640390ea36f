from __future__ import annotations

import httpx
import pytest

from clickfunnels_async._errors import ClickFunnelsConfigError
from clickfunnels_async._hosts import (
    ACCOUNTS_URL,
    MATON_URL,
    Hosts,
    validate_base_url,
    validate_subdomain,
)


@pytest.mark.parametrize("value", ["acme", "ACME", "a", "acme-2", "0day", "a" * 63, "x-y-z"])
def test_valid_subdomains(value: str) -> None:
    assert validate_subdomain(value) == value.lower()


@pytest.mark.parametrize(
    "value",
    [
        "acme.evil.com",
        "acme/../x",
        "evil.com#",
        "a@b",
        "a?b",
        " ",
        "",
        "-a",
        "a-",
        "a" * 64,
        "ａｃｍｅ",  # fullwidth: would IDNA-normalise to another host
        "acmé",
        "a b",
        "a:80",
        "a%2e",
        "a\n",
        "acme\x00",
        "https://acme.myclickfunnels.com",
        "acme.myclickfunnels.com",
        "a_b",
    ],
)
def test_injection_attempts_rejected(value: str) -> None:
    with pytest.raises(ClickFunnelsConfigError) as info:
        validate_subdomain(value)
    assert "subdomain='acme'" in str(info.value)  # tells the user what a subdomain looks like


def test_non_string_subdomain_rejected() -> None:
    with pytest.raises(ClickFunnelsConfigError):
        validate_subdomain(42)  # type: ignore[arg-type]


def test_pasted_host_suggests_label() -> None:
    with pytest.raises(ClickFunnelsConfigError, match="subdomain='shop'"):
        validate_subdomain("https://shop.myclickfunnels.com/")
    with pytest.raises(ClickFunnelsConfigError, match="subdomain='shop'"):
        validate_subdomain("Shop.myclickfunnels.com")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("http://127.0.0.2:8765/", "http://127.0.0.2:8765"),
        ("http://localhost", "http://localhost"),
        ("http://[::1]:9000/cf/", "http://[::1]:9000/cf"),
        ("https://proxy.example.com/clickfunnels/", "https://proxy.example.com/clickfunnels"),
        ("https://proxy.example.com", "https://proxy.example.com"),
    ],
)
def test_base_url_accepted(url: str, expected: str) -> None:
    hosts = Hosts.custom(url)
    assert hosts.base_for("workspace") == expected
    assert hosts.base_for("accounts") == expected
    assert isinstance(validate_base_url(url), httpx.URL)


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com",  # plaintext to a non-loopback host
        "http://10.0.0.1:8000",
        "http://localhost.evil.com",
        "https://user:pw@proxy.example.com",
        "https://token@proxy.example.com",
        "https://proxy.example.com/?a=1",
        "https://proxy.example.com/#x",
        "ftp://proxy.example.com",
        "proxy.example.com",
        "/api/v2",
        "",
        "https://",
    ],
)
def test_base_url_rejected(url: str) -> None:
    with pytest.raises(ClickFunnelsConfigError):
        validate_base_url(url)


def test_base_url_error_does_not_echo_credentials() -> None:
    with pytest.raises(ClickFunnelsConfigError) as info:
        validate_base_url("https://user:hunter2pass@proxy.example.com")
    assert "hunter2pass" not in str(info.value)


def test_direct_routing() -> None:
    hosts = Hosts.direct("Acme")
    assert hosts.subdomain == "acme"
    assert hosts.base_for("accounts") == ACCOUNTS_URL
    assert hosts.base_for("workspace") == "https://acme.myclickfunnels.com"


def test_direct_without_subdomain_workspace_op_is_config_error() -> None:
    hosts = Hosts.direct()
    assert hosts.base_for("accounts") == ACCOUNTS_URL
    with pytest.raises(ClickFunnelsConfigError, match="subdomain"):
        hosts.base_for("workspace")
    found = hosts.with_subdomain("shop")
    assert found.base_for("workspace") == "https://shop.myclickfunnels.com"
    assert hosts.subdomain is None  # frozen: the original is unchanged


def test_direct_validates_subdomain() -> None:
    with pytest.raises(ClickFunnelsConfigError):
        Hosts.direct("acme.evil.com")
    with pytest.raises(ClickFunnelsConfigError):
        Hosts.direct().with_subdomain("evil.com#")


def test_maton_routing() -> None:
    hosts = Hosts.maton()
    assert hosts.base_for("accounts") == MATON_URL
    assert hosts.base_for("workspace") == MATON_URL


def test_unknown_role_and_mode() -> None:
    with pytest.raises(ValueError, match="host role"):
        Hosts.maton().base_for("billing")
    with pytest.raises(ClickFunnelsConfigError):
        Hosts("sideways")  # type: ignore[arg-type]
    with pytest.raises(ClickFunnelsConfigError):
        Hosts("base_url")


def test_hosts_is_frozen_value() -> None:
    assert Hosts.direct("acme") == Hosts.direct("ACME")
    assert Hosts.custom("http://localhost:1/") == Hosts.custom("http://localhost:1")
    with pytest.raises(AttributeError):
        Hosts.direct("acme").subdomain = "evil"  # type: ignore[misc]


def test_is_trusted_url() -> None:
    hosts = Hosts.direct("acme")
    assert hosts.is_trusted_url(
        httpx.URL("https://acme.myclickfunnels.com/api/v2/contacts?after=3")
    )
    assert hosts.is_trusted_url(httpx.URL("https://ACCOUNTS.myclickfunnels.com/api/v2/teams"))
    assert not hosts.is_trusted_url(httpx.URL("http://acme.myclickfunnels.com/api/v2"))  # downgrade
    assert not hosts.is_trusted_url(httpx.URL("https://acme.myclickfunnels.com:8443/"))
    assert not hosts.is_trusted_url(httpx.URL("https://evil.myclickfunnels.com/"))
    assert not hosts.is_trusted_url(httpx.URL("https://acme.myclickfunnels.com.evil.com/"))
    assert not Hosts.direct().is_trusted_url(httpx.URL("https://acme.myclickfunnels.com/"))

    local = Hosts.custom("http://127.0.0.1:8765")
    assert local.is_trusted_url(httpx.URL("http://127.0.0.1:8765/api/v2/x"))
    assert not local.is_trusted_url(httpx.URL("http://127.0.0.1:8766/api/v2/x"))

    maton = Hosts.maton()
    assert maton.is_trusted_url(httpx.URL("https://gateway.maton.ai/clickfunnels/api/v2/teams"))
    assert not maton.is_trusted_url(httpx.URL("https://acme.myclickfunnels.com/"))
