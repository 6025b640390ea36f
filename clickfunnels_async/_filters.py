"""`filter[...]` query parameters: building, checking and rendering.

ClickFunnels ORs the comma-separated values of one key and ANDs different keys. It answers 400 for a key the
list does not allow, so we check keys against the operation's allowed set before sending anything.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from typing import TypeAlias

FilterScalar: TypeAlias = str | int | bool
FilterValue: TypeAlias = FilterScalar | Iterable[FilterScalar]


class Filter(Mapping[str, FilterValue]):
    """Filter a list call: `Filter(email_address=["a@x.com", "b@x.com"], id=5)`.

    A list of values matches any of them; several keys must all match. A plain dict works too.
    """

    __slots__ = ("_items",)

    def __init__(
        self, mapping: Mapping[str, FilterValue] | None = None, /, **keys: FilterValue
    ) -> None:
        items: dict[str, FilterValue] = dict(mapping or {})
        items.update(keys)
        self._items = items

    def __getitem__(self, key: str) -> FilterValue:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self._items.items())
        return f"Filter({inner})"

    def __or__(self, other: Mapping[str, FilterValue]) -> Filter:
        return Filter({**self._items, **other})


FilterArg: TypeAlias = Filter | Mapping[str, FilterValue] | None


def _scalar(key: str, value: object) -> str:
    # bool before int: True is an int too.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if "," in value:
            raise ValueError(
                f"filter {key!r}: the value {value!r} contains a comma, which ClickFunnels reads as "
                f"several values; pass a list instead (e.g. {key}=[...])"
            )
        if not value:
            raise ValueError(f"filter {key!r}: empty string; leave the key out to not filter on it")
        return value
    raise TypeError(
        f"filter {key!r}: values must be str, int, bool or a list of those, not {type(value).__name__}"
    )


def query_text(name: str, value: object, where: str) -> str:
    """One query value as sent: str, int, finite float or bool; anything else is a caller error.

    `str()` of anything else would send its repr (bytes as ``b'...'``, an object as its address).
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    raise TypeError(
        f"{where}: the query value {name}={value!r} is a {type(value).__name__}; "
        "pass a str, int, finite float or bool"
    )


def render_filter(filter: FilterArg, allowed: tuple[str, ...], operation: str) -> dict[str, str]:
    """`{"filter[key]": "a,b"}` for the query string; raises before any request on a bad key or value."""
    if filter is None:
        return {}
    if not isinstance(filter, Mapping):
        raise TypeError(f"filter must be a Filter or a dict, not {type(filter).__name__}")
    if not allowed:
        raise ValueError(f"{operation} takes no filter")
    out: dict[str, str] = {}
    for key, value in filter.items():
        if key not in allowed:
            raise ValueError(
                f"{operation} cannot filter on {key!r}; allowed keys: {', '.join(allowed)}"
            )
        if value is None:  # None means "not filtered on", as elsewhere in the SDK
            continue
        if isinstance(value, str | int | bool):
            out[f"filter[{key}]"] = _scalar(key, value)
            continue
        if not isinstance(value, Iterable) or isinstance(
            value, bytes | bytearray | memoryview | Mapping
        ):
            raise TypeError(
                f"filter {key!r}: values must be str, int, bool or a list of those, "
                f"not {type(value).__name__}"
            )
        parts = [_scalar(key, v) for v in value]
        if not parts:
            raise ValueError(f"filter {key!r}: an empty list matches nothing; leave the key out")
        out[f"filter[{key}]"] = ",".join(parts)
    return out


def render_expand(
    expand: Iterable[str] | None, allowed: tuple[str, ...], operation: str
) -> list[str]:
    if expand is None:
        return []
    if isinstance(expand, str):
        expand = [expand]
    values = list(expand)
    for value in values:
        if value not in allowed:
            raise ValueError(
                f"{operation} cannot expand {value!r}; allowed: {', '.join(allowed) or 'nothing'}"
            )
    return values
