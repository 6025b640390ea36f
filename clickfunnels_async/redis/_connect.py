"""One Redis client per object, made from a URL or taken as given; the password never reaches a log."""

from __future__ import annotations

import asyncio
from typing import Any

try:
    import redis.asyncio as aioredis
    import redis.exceptions
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "clickfunnels_async.redis needs redis-py: pip install 'clickfunnels-async[redis]'"
    ) from exc

from clickfunnels_async._errors import ClickFunnelsError
from clickfunnels_async._log import redact_url, redacting_filter

__all__ = ["REDIS_ERRORS", "RedisUnavailableError", "connect", "describe", "unavailable"]

# What "Redis is not answering" looks like from redis-py: its own errors, a socket error underneath, or
# an asyncio timeout from a connect that hung.
REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.RedisError,
    OSError,
    asyncio.TimeoutError,
)


class RedisUnavailableError(ClickFunnelsError):
    """Redis could not be used (unreachable, refused the login, timed out) and no fallback applies.

    The message names the server without its password; the redis-py error is not chained (its text may
    repeat connection details).
    """


def connect(
    url_or_client: str | aioredis.Redis, *, timeout: float
) -> tuple[aioredis.Redis, bool, str]:
    """(client, owned, name): a client made from a ``redis://`` URL is ours to close; a given one is not."""
    if isinstance(url_or_client, str):
        if not url_or_client.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(
                "pass a Redis URL such as 'redis://localhost:6379/0' (or rediss://, unix://) "
                "or a redis.asyncio.Redis client"
            )
        name = redact_url(url_or_client)
        password = _password(url_or_client)
        client = aioredis.Redis.from_url(
            url_or_client,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            # Replies as bytes: scripts return plain numbers and ids; nothing here needs decoding twice.
            decode_responses=False,
        )
        if password:
            # Tied to the client: when it is garbage collected the registration goes too.
            redacting_filter.register(password, owner=client)
        return client, True, name
    if isinstance(url_or_client, aioredis.Redis):
        return url_or_client, False, describe(url_or_client)
    raise TypeError(
        f"expected a Redis URL or a redis.asyncio.Redis client, not {type(url_or_client).__name__}"
    )


def describe(client: aioredis.Redis) -> str:
    """host:port/db of a client, for messages (never credentials)."""
    kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}"
    return f"redis://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"


def unavailable(name: str, exc: BaseException, what: str) -> RedisUnavailableError:
    return RedisUnavailableError(f"Redis at {name} is not usable for {what}: {type(exc).__name__}")


def _password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None
