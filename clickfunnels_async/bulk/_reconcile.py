"""Resolving ambiguous writes: a create or upsert that may have been applied is looked up by its natural key.

A write that failed after it was sent (a 5xx, a timeout, a dropped connection) may or may not exist on the
server. Retrying a create could make a duplicate; reporting it failed could be wrong. For operations whose
spec names a natural key (`x-cf-natural-key`, e.g. a contact's `email_address`), the namespace's `list`
finds the record by that key:

- create: found -> it exists, the input succeeded (reconciled); not found -> it surely was not applied,
  so it is sent again, as a create.
- upsert: found with every sent scalar field in place -> the effect is there (reconciled); otherwise the
  upsert is sent again (it matches by the key, so it never duplicates).

A create refused with a 422 naming the key ("has already been taken") is looked up too: that is what a
re-run of a failures file meets for the records that were in fact created.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import attrs

from clickfunnels_async._operation import Operation
from clickfunnels_async._resource import Resource

# Lookups and resends for one input before it is reported as it last failed.
MAX_ROUNDS = 3


@attrs.frozen(slots=True)
class Target:
    """What reconciling calls of one namespace method needs: its row, the list to look up, the client."""

    op: Operation
    lookup: Operation
    client: Any  # ClickFunnels (kept untyped: bulk is built on the public surface)

    @property
    def key(self) -> str:
        assert self.op.natural_key is not None
        return self.op.natural_key


def target_for(fn: Callable[..., Awaitable[Any]]) -> Target | None:
    """The reconciliation target of a generated method such as `cf.contacts.create`, else None.

    Derived from the operation table: the method's row must name a natural key, and its namespace's
    `list` must take the same path parameters and filter on that key.
    """
    from clickfunnels_async._operations import OPERATIONS

    owner = getattr(fn, "__self__", None)
    verb = getattr(fn, "__name__", None)
    if not isinstance(owner, Resource) or not isinstance(verb, str):
        return None
    module = type(owner).__module__.rsplit(".", 1)[
        -1
    ]  # namespaces live in modules named after them
    op = next(
        (
            o
            for o in OPERATIONS.values()
            if o.verb == verb and o.namespace.replace(".", "_") == module
        ),
        None,
    )
    if op is None or op.natural_key is None:
        return None
    lookup = next(
        (
            o
            for o in OPERATIONS.values()
            if o.namespace == op.namespace
            and o.verb == "list"
            and o.path_params == op.path_params
            and op.natural_key in o.filter_keys
        ),
        None,
    )
    if lookup is None:
        return None
    return Target(op=op, lookup=lookup, client=owner._client)


def _fields(value: Any) -> Mapping[str, Any]:
    if value is None:
        return {}
    to_dict = getattr(value, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else value if isinstance(value, Mapping) else {}


def split_call(
    target: Target, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[dict[str, Any], Any, Mapping[str, Any]]:
    """(path arguments, natural key value, body fields) of one call of the target's method."""
    names = target.op.path_params
    path_args = dict(zip(names, args, strict=False))
    path_args.update({k: v for k, v in kwargs.items() if k in names})
    body = _fields(kwargs.get("values")) or {k: v for k, v in kwargs.items() if k not in names}
    return path_args, body.get(target.key), body


def refused_as_taken(target: Target, error: BaseException) -> bool:
    """A 422 that names the natural key: the record already exists (e.g. created by an earlier attempt)."""
    errors = getattr(error, "errors", None)
    return (
        getattr(error, "status_code", None) == 422
        and isinstance(errors, dict)
        and target.key in errors
    )


def _same(found: Any, sent: Any) -> bool:
    if isinstance(sent, str) and isinstance(found, str):
        return found.strip().casefold() == sent.strip().casefold()
    return bool(found == sent)


def _reflects(record: Any, body: Mapping[str, Any]) -> bool:
    """Every sent field is on the record as sent (only plain values can be checked; else False)."""
    for name, sent in body.items():
        if sent is None or (isinstance(sent, str) and not sent.strip()):
            continue  # the upsert ignores empty values
        if not isinstance(sent, str | int | float | bool):
            return False
        if not _same(getattr(record, name, None), sent):
            return False
    return True


async def find(target: Target, path_args: Mapping[str, Any], key_value: Any) -> Any | None:
    """The record whose natural key is *key_value*, or None."""
    found = await target.client._paginate(
        target.lookup, path_args, filter={target.key: key_value}, limit=5
    ).to_list()
    return next((r for r in found if _same(getattr(r, target.key, None), key_value)), None)


async def reconcile(
    target: Target,
    call: Callable[[], Awaitable[Any]],
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    error: BaseException | None,
) -> tuple[Any, bool]:
    """Resolve one ambiguous failure (*error*; None: an earlier run's, so nothing was sent yet):
    (value, found) on success, where *found* says the record was found in place rather than written
    again; raises the last error when it cannot be resolved."""
    path_args, key_value, body = split_call(target, args, kwargs)
    if not isinstance(key_value, str | int) or isinstance(key_value, bool) or key_value == "":
        if error is None:
            return await call(), False
        raise error
    upsert = target.op.idempotent
    for _ in range(MAX_ROUNDS):
        try:
            record = await find(target, path_args, key_value)
        except Exception:
            if error is None:
                raise
            raise error from None  # could not look: the input stays as it failed (maybe applied)
        if record is not None and (not upsert or _reflects(record, body)):
            return record, True
        try:
            return await call(), False
        except Exception as exc:
            if not (getattr(exc, "maybe_applied", False) or refused_as_taken(target, exc)):
                raise
            error = exc
    assert error is not None
    raise error
