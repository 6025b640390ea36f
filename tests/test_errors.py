from __future__ import annotations

import email.utils
import json
import logging
import time
from typing import Any

import httpx
import pytest

from clickfunnels_async._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClickFunnelsConfigError,
    ClickFunnelsError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseParseError,
    UnprocessableEntityError,
    error_from_response,
    parse_retry_after,
)
from clickfunnels_async._log import Secret, logger, redact, redact_url, redacting_filter

URL = "https://acme.myclickfunnels.com/api/v2/workspaces/42/contacts"
HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1>"
    + "x" * 5000
    + "</body></html>"
)


def make_response(
    status: int,
    body: Any = None,
    *,
    text: str | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    url: str = URL,
) -> httpx.Response:
    request = httpx.Request(method, url, headers={"Authorization": "Bearer cf_secret_token_123"})
    if text is None and body is not None:
        return httpx.Response(status, json=body, headers=headers, request=request)
    return httpx.Response(status, content=(text or "").encode(), headers=headers, request=request)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (500, InternalServerError),
        (502, InternalServerError),
        (503, InternalServerError),
        (520, InternalServerError),
        (599, InternalServerError),
        (405, APIStatusError),
        (408, APIStatusError),
        (410, APIStatusError),
        (499, APIStatusError),
        (302, APIStatusError),
    ],
)
def test_status_maps_to_class(status: int, cls: type[APIStatusError]) -> None:
    err = error_from_response(make_response(status, {"error": "boom"}))
    assert type(err) is cls
    assert isinstance(err, APIStatusError)
    assert isinstance(err, ClickFunnelsError)
    assert err.status_code == status
    assert err.message == "boom"


def test_hierarchy() -> None:
    assert issubclass(APITimeoutError, APIConnectionError)
    assert issubclass(APIConnectionError, ClickFunnelsError)
    assert issubclass(ResponseParseError, ClickFunnelsError)
    assert not issubclass(ResponseParseError, APIStatusError)
    assert issubclass(ClickFunnelsConfigError, ValueError)
    assert issubclass(ClickFunnelsConfigError, ClickFunnelsError)


def test_error_key_message_and_str() -> None:
    err = error_from_response(
        make_response(404, {"error": "Not found: Record missing"}, method="GET")
    )
    assert err.message == "Not found: Record missing"
    assert str(err) == f"GET {URL} -> 404: Not found: Record missing"
    assert err.body == {"error": "Not found: Record missing"}
    assert err.errors == {}


def test_html_502_message_is_short_and_body_kept() -> None:
    resp = make_response(502, text=HTML_502, headers={"content-type": "text/html"})
    err = error_from_response(resp)
    assert isinstance(err, InternalServerError)
    assert err.message == "HTTP 502 Bad Gateway (HTML body)"
    assert "<html" not in str(err)
    assert err.body == HTML_502


def test_html_without_content_type_detected() -> None:
    err = error_from_response(make_response(503, text="  <!DOCTYPE html><html>down</html>"))
    assert err.message == "HTTP 503 Service Unavailable (HTML body)"


@pytest.mark.parametrize("status", [520, 499, 299, 600, 999])
def test_odd_codes_never_crash(status: int) -> None:
    err = error_from_response(make_response(status, text=""))
    assert err.status_code == status
    assert err.message == f"HTTP {status} (empty body)"
    assert str(err).endswith(f"-> {status}: HTTP {status} (empty body)")


def test_empty_body() -> None:
    err = error_from_response(make_response(404, text=""))
    assert isinstance(err, NotFoundError)
    assert err.body is None
    assert err.message == "HTTP 404 Not Found (empty body)"


def test_plain_text_body_used_as_message() -> None:
    err = error_from_response(make_response(503, text="upstream overloaded, retry later"))
    assert err.message == "upstream overloaded, retry later"
    long = error_from_response(make_response(500, text="y" * 5000))
    assert len(long.message) <= 300
    assert long.body == "y" * 5000


def test_rails_bare_validation_hash() -> None:
    body = {
        "email_address": ["can't be blank", "is invalid"],
        "base": ["Cannot edit a subscription price"],
    }
    err = error_from_response(make_response(422, body))
    assert isinstance(err, UnprocessableEntityError)
    assert err.errors == {
        "email_address": ["can't be blank", "is invalid"],
        "base": ["Cannot edit a subscription price"],
    }
    assert err.message == (
        "email_address: can't be blank; email_address: is invalid; Cannot edit a subscription price"
    )


def test_errors_key_validation_hash() -> None:
    err = error_from_response(
        make_response(422, {"errors": {"name": ["has already been taken"], "slug": "bad"}})
    )
    assert err.errors == {"name": ["has already been taken"], "slug": ["bad"]}
    assert err.message == "name: has already been taken; slug: bad"


def test_error_string_wins_over_errors() -> None:
    err = error_from_response(
        make_response(422, {"error": "Request unprocessable: bad code", "errors": {"code": ["x"]}})
    )
    assert err.message == "Request unprocessable: bad code"
    assert err.errors == {"code": ["x"]}


def test_errors_list_of_strings() -> None:
    err = error_from_response(
        make_response(400, {"errors": ["found unpermitted parameter: foo", "bad"]})
    )
    assert err.message == "found unpermitted parameter: foo; bad"
    assert err.errors == {}


def test_unknown_json_shapes() -> None:
    assert (
        error_from_response(make_response(400, {"weird": 1})).message
        == "HTTP 400 Bad Request (JSON body)"
    )
    assert (
        error_from_response(make_response(400, [1, 2])).message
        == "HTTP 400 Bad Request (JSON body)"
    )
    assert (
        error_from_response(make_response(400, {"error": {"message": "nested"}})).message
        == "nested"
    )
    # a bare object whose values are strings is not a validation hash
    assert error_from_response(make_response(400, {"status": "bad"})).errors == {}


def test_request_id_from_headers() -> None:
    assert (
        error_from_response(make_response(500, text="", headers={"x-request-id": "abc"})).request_id
        == "abc"
    )
    assert (
        error_from_response(make_response(500, text="", headers={"request-id": "r1"})).request_id
        == "r1"
    )
    assert (
        error_from_response(make_response(500, text="", headers={"cf-ray": "8a-IAD"})).request_id
        == "8a-IAD"
    )
    assert error_from_response(make_response(500, text="")).request_id is None


def test_retries_and_headers_kept() -> None:
    err = error_from_response(make_response(503, text="", headers={"x-thing": "1"}), retries=2)
    assert err.retries == 2
    assert err.headers["x-thing"] == "1"
    assert err.method == "POST"


def test_rate_limit_retry_after_seconds_and_date() -> None:
    err = error_from_response(make_response(429, text="", headers={"Retry-After": "7"}))
    assert isinstance(err, RateLimitError)
    assert err.retry_after == 7.0
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    err = error_from_response(make_response(429, text="", headers={"Retry-After": when}))
    assert isinstance(err, RateLimitError)
    assert err.retry_after is not None and 25 <= err.retry_after <= 31
    err = error_from_response(make_response(429, text=""))
    assert isinstance(err, RateLimitError)
    assert err.retry_after is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "0"}, 0.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "x", "Retry-After": "2"}, 2.0),
        ({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 0.0),  # in the past
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date_relative_to_now() -> None:
    assert (
        parse_retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:10 GMT"}, now=1445412480.0)
        == 10.0
    )


def test_url_secrets_redacted_and_no_request_headers() -> None:
    resp = make_response(
        401, {"error": "API key missing or invalid"}, url=URL + "?access_token=tok_abcdef&after=5"
    )
    err = error_from_response(resp)
    assert "tok_abcdef" not in str(err)
    assert "tok_abcdef" not in repr(err)
    assert "after=5" in err.url
    assert "access_token=****" in err.url
    # the bearer token from the request headers is nowhere on the error
    assert "cf_secret_token_123" not in repr(vars(err))
    assert not hasattr(err, "request")


def test_registered_secret_scrubbed_from_message() -> None:
    redacting_filter.register("sk_live_echoed_secret")
    try:
        err = error_from_response(make_response(400, {"error": "bad token sk_live_echoed_secret"}))
        assert "sk_live_echoed_secret" not in str(err)
        assert "****" in err.message
    finally:
        redacting_filter.unregister("sk_live_echoed_secret")


def test_echoed_secret_scrubbed_from_body_and_headers() -> None:
    secret = "cf_echoed_token_9876"
    redacting_filter.register(secret)
    try:
        resp = make_response(
            500,
            {"error": f"bad token {secret}", "nested": [{"t": secret}]},
            headers={"x-echo": secret},
        )
        err = error_from_response(resp)
        assert secret not in repr(vars(err))
        assert err.body == {"error": "bad token ****", "nested": [{"t": "****"}]}
        assert err.headers["x-echo"] == "****"
        html = error_from_response(make_response(502, text=f"<html>{secret}</html>"))
        assert html.body == "<html>****</html>"
        parse = ResponseParseError.from_response(make_response(200, text=f"oops {secret}"))
        assert parse.body == "oops ****"
    finally:
        redacting_filter.unregister(secret)


def test_maton_hints() -> None:
    err = error_from_response(make_response(401, {"error": "Invalid API key"}), via_maton=True)
    assert isinstance(err, AuthenticationError)
    assert "check MATON_API_KEY" in err.message
    err = error_from_response(
        make_response(400, {"error": "No active connection found"}), via_maton=True
    )
    assert isinstance(err, BadRequestError)
    assert "create or choose a Maton connection" in err.message
    # a ClickFunnels 400 passed through the gateway keeps its own message
    err = error_from_response(
        make_response(400, {"error": "found unpermitted parameter: x"}), via_maton=True
    )
    assert err.message == "found unpermitted parameter: x"
    # without the flag no hint
    assert "MATON" not in error_from_response(make_response(401, {"error": "x"})).message


def test_response_parse_error_keeps_body() -> None:
    resp = make_response(200, text="<html>maintenance</html>", method="GET")
    err = ResponseParseError.from_response(resp)
    assert err.body == "<html>maintenance</html>"
    assert err.status_code == 200
    assert err.url == URL
    assert str(err) == f"GET {URL} -> 200: response body is not valid JSON"


def test_connection_error_str() -> None:
    err = APITimeoutError("ReadTimeout", method="GET", url=URL)
    assert str(err) == f"GET {URL} -> no response: ReadTimeout"
    assert "ReadTimeout" in repr(err)


def test_error_is_picklable_free_of_live_objects() -> None:
    # the body is plain data; serialising it (e.g. to an error tracker) works
    err = error_from_response(make_response(422, {"email_address": ["can't be blank"]}))
    assert json.loads(json.dumps(err.body)) == err.body


# --- _log helpers used by every error --------------------------------------------------------


def test_secret_hides_value() -> None:
    s = Secret("cf_live_abcdef")
    assert repr(s) == "Secret('****')"
    assert str(s) == "Secret('****')"
    assert f"{s}" == "Secret('****')"
    assert "abcdef" not in repr([s, {"k": s}])
    assert s.get_secret_value() == "cf_live_abcdef"
    assert s == Secret("cf_live_abcdef")
    assert s != Secret("other")


def test_redact() -> None:
    assert redact("token abcd1234 and abcd1234", ["abcd1234"]) == "token **** and ****"
    assert redact("abc and abc", ["abc"]) == "abc and abc"  # too short to mask
    assert redact("xxLONGSECRETxx", ["LONG", "LONGSECRET"]) == "xx****xx"


def test_redact_url() -> None:
    text = redact_url("https://u:pw@h.com/p?client_secret=s3&api_key=k&code=c&after=1#frag")
    assert text == "https://h.com/p?client_secret=****&api_key=****&code=****&after=1"


def test_redacting_filter_scrubs_log_records(caplog: pytest.LogCaptureFixture) -> None:
    owner = type("Owner", (), {})()
    redacting_filter.register("tok_logged_value", owner=owner)
    with caplog.at_level(logging.DEBUG, logger="clickfunnels_async"):
        logger.warning("sending %s", "Bearer tok_logged_value")
    assert "tok_logged_value" not in caplog.text
    assert "Bearer ****" in caplog.text
    del owner  # weak registration ends with its owner
    import gc

    gc.collect()
    assert redacting_filter.scrub("tok_logged_value") == "tok_logged_value"


def test_registration_is_counted() -> None:
    redacting_filter.register("shared_secret_x")
    redacting_filter.register("shared_secret_x")
    redacting_filter.unregister("shared_secret_x")
    assert redacting_filter.scrub("shared_secret_x") == "****"
    redacting_filter.unregister("shared_secret_x")
    assert redacting_filter.scrub("shared_secret_x") == "shared_secret_x"


def test_configure_from_env_adds_one_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    from clickfunnels_async._log import configure_from_env

    original = list(logger.handlers)
    level = logger.level
    # another test may already have configured logging in this process; start from none of ours
    for handler in original:
        if getattr(handler, "_clickfunnels_async_handler", False):
            logger.removeHandler(handler)
    before = list(logger.handlers)
    try:
        monkeypatch.setenv("CLICKFUNNELS_LOG", "debug")
        configure_from_env()
        configure_from_env()
        added = [h for h in logger.handlers if h not in before]
        assert len(added) == 1
        assert logger.level == logging.DEBUG
        assert redacting_filter in added[0].filters
        monkeypatch.setenv("CLICKFUNNELS_LOG", "info")
        configure_from_env()
        assert logger.level == logging.INFO
        assert len([h for h in logger.handlers if h not in before]) == 1
    finally:
        logger.handlers[:] = original
        logger.setLevel(level)


def test_configure_from_env_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    from clickfunnels_async._log import configure_from_env

    monkeypatch.delenv("CLICKFUNNELS_LOG", raising=False)
    before = list(logger.handlers)
    configure_from_env()
    assert logger.handlers == before


def test_log_response_one_line_without_headers(caplog: pytest.LogCaptureFixture) -> None:
    from clickfunnels_async._log import log_request, log_response

    request = httpx.Request(
        "GET", URL + "?token=tok_in_query", headers={"Authorization": "Bearer cf_hdr_token"}
    )
    response = httpx.Response(201, request=request, headers={"set-cookie": "session=abc123"})
    with caplog.at_level(logging.DEBUG, logger="clickfunnels_async"):
        log_request(request, attempt=2)
        log_response(response, elapsed=0.0123, retries=1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"HTTP request GET {URL}?token=**** (attempt 2)",
        f"HTTP response GET {URL}?token=**** -> 201 Created in 12 ms (retries: 1)",
    ]
    assert "cf_hdr_token" not in caplog.text and "abc123" not in caplog.text
