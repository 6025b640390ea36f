"""The row type of the operation table (`_generated/operation_table.py`, generated from the spec).

Everything that differs between two API operations is a field here; the runtime, the emulator and the CLI
read these rows instead of keeping their own lists of paths, hosts, wrapper keys or filter keys.
"""

from __future__ import annotations

import attrs

# The path parameter a client-wide default fills in (`ClickFunnels(workspace_id=...)`): the generator makes it
# optional in the signatures, the runtime fills it in when a call leaves it out.
WORKSPACE_PARAM = "workspace_id"


@attrs.frozen(slots=True)
class Operation:
    id: str
    method: str
    path: str
    host: str  # "accounts" | "workspace"
    namespace: str  # "contacts.tags"
    verb: str  # "list"
    summary: str
    path_params: tuple[str, ...]
    query_params: tuple[str, ...]  # plain query params other than filter and expand
    filter_keys: tuple[str, ...]  # allowed filter[...] keys; () = no filter
    expand: tuple[str, ...]  # allowed expand[] values; () = none
    has_body: bool
    body_key: str | None  # wrapper key ("contact"); None for a flat body or no body
    body_fields: tuple[str, ...]
    body_required: tuple[str, ...]
    body_model: str | None  # "module:Class" inside _generated.models
    response_model: str | None  # same form; None = untyped JSON or no body
    response_is_list: bool
    paginated: bool
    idempotent: bool  # safe to resend after the request may have reached the server
    success: tuple[int, ...]
    sort_properties: tuple[str, ...] = ()
    # A body field the API keeps unique (x-cf-natural-key): a write that may or may not have been applied
    # is looked up by it before being retried (bulk reconciliation).
    natural_key: str | None = None

    @property
    def qualname(self) -> str:
        """How users reach it: `contacts.tags.list`."""
        return f"{self.namespace}.{self.verb}"
