"""Models of the ClickFunnels API: the records calls return and the bodies they accept.

Every model is an attrs class with `from_dict()` / `to_dict()` (and `dict(model) == model.to_dict()`).
Records (what calls return): a field the server left out reads as None (`fields_set` names those it sent);
one the spec requires and does not allow to be null is typed without None. Bodies (what calls accept):
`UNSET` = not sent, None = null. Fields the spec does not know yet are kept in `additional_properties`.
Models work as pydantic fields and FastAPI response models (serialised as `to_dict()`). Loaded lazily.
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
