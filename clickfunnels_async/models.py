"""Models of the ClickFunnels API: the records calls return and the bodies they accept.

Every model is an attrs class with `from_dict()` / `to_dict()`. A field the server left out is `UNSET`;
fields the spec does not know yet are kept in `additional_properties`. Loaded lazily (first use of a name).
Request wrappers and filter models are not models here: pass a body model or a dict as `values=`, and a
`Filter` or a dict as `filter=`.
"""

from typing import TYPE_CHECKING, Any

from ._generated import models as _models
from ._generated.types import UNSET, Unset

if TYPE_CHECKING:
    from ._generated.models import *  # noqa: F403


def __getattr__(name: str) -> Any:
    value = getattr(_models, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = ["UNSET", "Unset", *_models.__all__]
