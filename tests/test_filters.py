from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clickfunnels_async import Filter
from clickfunnels_async._filters import render_expand, render_filter

ALLOWED = ("email_address", "id", "is_active", "tag_ids")


def test_lists_are_ored_with_commas_and_keys_anded() -> None:
    out = render_filter(
        Filter(email_address=["a@x.com", "b@x.com"], id=5), ALLOWED, "contacts.list"
    )
    assert out == {"filter[email_address]": "a@x.com,b@x.com", "filter[id]": "5"}


def test_plain_dict_and_booleans() -> None:
    assert render_filter({"is_active": True}, ALLOWED, "op") == {"filter[is_active]": "true"}
    assert render_filter({"is_active": False}, ALLOWED, "op") == {"filter[is_active]": "false"}


def test_none_value_is_not_sent() -> None:
    assert render_filter(Filter(id=None), ALLOWED, "op") == {}  # type: ignore[arg-type]


def test_unknown_key_names_the_allowed_ones() -> None:
    with pytest.raises(
        ValueError, match=r"cannot filter on 'email'.*email_address, id, is_active, tag_ids"
    ):
        render_filter({"email": "a@x.com"}, ALLOWED, "contacts.list")


def test_operation_without_filters_rejects_any() -> None:
    with pytest.raises(ValueError, match="takes no filter"):
        render_filter({"id": 1}, (), "teams.list")


def test_a_comma_inside_one_value_is_rejected() -> None:
    with pytest.raises(ValueError, match="contains a comma"):
        render_filter({"email_address": "a@x.com,b@x.com"}, ALLOWED, "op")
    with pytest.raises(ValueError, match="contains a comma"):
        render_filter({"email_address": ["a@x.com", "b,c@x.com"]}, ALLOWED, "op")


def test_empty_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="empty list"):
        render_filter({"id": []}, ALLOWED, "op")
    with pytest.raises(ValueError, match="empty string"):
        render_filter({"email_address": ""}, ALLOWED, "op")


def test_wrong_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        render_filter({"id": 1.5}, ALLOWED, "op")  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        render_filter([("id", 1)], ALLOWED, "op")  # type: ignore[arg-type]


def test_filter_is_a_mapping_and_merges() -> None:
    f = Filter({"id": 1}) | {"email_address": "a@x.com"}
    assert dict(f) == {"id": 1, "email_address": "a@x.com"}
    assert "Filter(" in repr(f)


def test_expand() -> None:
    assert render_expand(["email_engagement"], ("email_engagement",), "op") == ["email_engagement"]
    assert render_expand("email_engagement", ("email_engagement",), "op") == ["email_engagement"]
    with pytest.raises(ValueError, match="cannot expand 'x'"):
        render_expand(["x"], ("email_engagement",), "op")


_values = st.one_of(
    st.text(max_size=8),
    st.integers(),
    st.booleans(),
    st.floats(),
    st.none(),
    st.lists(st.one_of(st.text(max_size=5), st.integers(), st.none()), max_size=3),
)


@given(st.dictionaries(st.text(max_size=12), _values, max_size=4))
def test_fuzz_only_clear_errors_escape(data: dict[str, object]) -> None:
    try:
        out = render_filter(data, ALLOWED, "contacts.list")  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        assert str(exc)
        return
    for key, value in out.items():
        assert key.startswith("filter[") and key.endswith("]")
        assert value and all(part for part in value.split(","))
