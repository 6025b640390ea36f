"""Record stores: one per resource namespace, ids kept sorted so a page costs O(log n + page).

A record is a plain dict: the resource's fields plus private keys (``_ns`` the store name, ``_anc`` the
ancestry — every parent id the record lives under, e.g. ``{"workspace_id": 42, "product_id": 7}`` for a
variant). Every ancestry key has its own sorted id list, so "the contacts of workspace 42 after id 1830" is
a bisect, never a scan of all contacts.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Store", "make_public_id"]

Record = dict[str, Any]

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


_SPACE = len(_ALPHABET) ** 8
_MULTIPLIER = 0x9E3779B97F4A7C15  # odd and not a multiple of 13: a bijection modulo 52**8


def make_public_id(namespace: str, id: int, salt: str) -> str:
    """A stable, letters-only public id (so it can never be mistaken for a numeric id).

    Distinct ids of one namespace always get distinct public ids (multiplication by a unit modulo 52**8).
    """
    key = (salt, namespace)
    offset = _OFFSETS.get(key)
    if offset is None:
        offset = _OFFSETS[key] = int.from_bytes(
            hashlib.blake2b(f"{salt}:{namespace}".encode(), digest_size=8).digest(), "big"
        )
    # Eight base-52 digits, least significant first, two at a time.
    high, low = divmod((id * _MULTIPLIER + offset) % _SPACE, _PAIR_SPACE)
    return _PAIRS[low % 2704] + _PAIRS[low // 2704] + _PAIRS[high % 2704] + _PAIRS[high // 2704]


_PAIR_SPACE = 2704 * 2704  # 52**4
_PAIRS = tuple(_ALPHABET[k % 52] + _ALPHABET[k // 52] for k in range(2704))
_OFFSETS: dict[tuple[str, str], int] = {}


class Store:
    """The records of one namespace."""

    __slots__ = (
        "_sorted_cache",
        "by_id",
        "by_parent",
        "by_public",
        "ids",
        "name",
        "next_id",
        "unique",
        "version",
    )

    def __init__(self, name: str, first_id: int = 1) -> None:
        self.name = name
        self.by_id: dict[int, Record] = {}
        self.by_public: dict[str, int] = {}
        self.ids: list[int] = []  # sorted
        self.by_parent: dict[tuple[str, int], list[int]] = {}  # sorted ids per ancestry key
        self.unique: dict[
            tuple[str, Any, str], int
        ] = {}  # (scope key, scope id, value) -> id, per field
        self.next_id = first_id
        self.version = 0  # bumped by every write; invalidates sorted views
        self._sorted_cache: dict[tuple[Any, ...], tuple[int, list[int], dict[int, int]]] = {}

    def __len__(self) -> int:
        return len(self.by_id)

    def allocate(self) -> int:
        new = self.next_id
        self.next_id += 1
        return new

    def insert(self, record: Record) -> Record:
        rid = record["id"]
        if rid >= self.next_id:
            self.next_id = rid + 1
        self.by_id[rid] = record
        self.by_public[record["public_id"]] = rid
        _insort(self.ids, rid)
        for key, value in record["_anc"].items():
            if isinstance(value, int):
                _insort(self.by_parent.setdefault((key, value), []), rid)
        self.version += 1
        return record

    def remove(self, record: Record) -> None:
        rid = record["id"]
        self.by_id.pop(rid, None)
        self.by_public.pop(record["public_id"], None)
        _discard(self.ids, rid)
        for key, value in record["_anc"].items():
            ids = self.by_parent.get((key, value))
            if ids is not None:
                _discard(ids, rid)
        for key in record.get("_uniq", ()):
            if self.unique.get(key) == rid:
                del self.unique[key]
        self.version += 1

    def claim(self, record: Record, key: tuple[str, Any, str], value: Any) -> bool:
        """Make `value` unique within `key` (scope key, scope id, field) for this record; False if taken."""
        field_key = (key[0], key[1], key[2] + "=" + str(value).lower())
        owner = self.unique.get(field_key)
        if owner is not None and owner != record["id"]:
            return False
        old = [
            k
            for k in record.setdefault("_uniq", [])
            if k[:2] == key[:2] and k[2].startswith(key[2] + "=")
        ]
        for k in old:
            if self.unique.get(k) == record["id"]:
                del self.unique[k]
            record["_uniq"].remove(k)
        if value is not None and value != "":
            self.unique[field_key] = record["id"]
            record["_uniq"].append(field_key)
        return True

    def lookup_unique(self, key: tuple[str, Any, str], value: Any) -> Record | None:
        rid = self.unique.get((key[0], key[1], key[2] + "=" + str(value).lower()))
        return None if rid is None else self.by_id.get(rid)

    def touch(self) -> None:
        self.version += 1

    def get(self, ref: str | int) -> Record | None:
        """By numeric id or public id, as member routes accept either."""
        if isinstance(ref, int):
            return self.by_id.get(ref)
        if ref.isascii() and ref.isdigit():
            return self.by_id.get(int(ref))
        rid = self.by_public.get(ref)
        return None if rid is None else self.by_id.get(rid)

    def scope_ids(self, parent: tuple[str, int] | None) -> list[int]:
        if parent is None:
            return self.ids
        return self.by_parent.get(parent, [])

    def sorted_view(
        self, parent: tuple[str, int] | None, prop: str, key: Callable[[Record], Any]
    ) -> tuple[list[int], dict[int, int]]:
        """Ids ordered by `prop` (then id), and each id's position; cached until the next write."""
        cache_key = (parent, prop)
        cached = self._sorted_cache.get(cache_key)
        if cached is not None and cached[0] == self.version:
            return cached[1], cached[2]
        ids = sorted(self.scope_ids(parent), key=lambda i: (key(self.by_id[i]), i))
        positions = {rid: n for n, rid in enumerate(ids)}
        self._sorted_cache[cache_key] = (self.version, ids, positions)
        return ids, positions


def _insort(ids: list[int], rid: int) -> None:
    if not ids or ids[-1] < rid:
        ids.append(rid)  # the common case: new ids only grow
    else:
        at = bisect_left(ids, rid)
        if at == len(ids) or ids[at] != rid:
            ids.insert(at, rid)


def _discard(ids: list[int], rid: int) -> None:
    at = bisect_left(ids, rid)
    if at < len(ids) and ids[at] == rid:
        del ids[at]


def walk(ids: list[int], after: int | None, descending: bool) -> Iterator[int]:
    """Ids after the cursor in the chosen direction, without copying the list."""
    if descending:
        i = (bisect_left(ids, after) if after is not None else len(ids)) - 1
        while i >= 0:
            yield ids[i]
            i -= 1
    else:
        i = bisect_right(ids, after) if after is not None else 0
        n = len(ids)
        while i < n:
            yield ids[i]
            i += 1
