"""The request path: OAuth first, then the security filter (User-Agent, bearer token), rate limit, latency,
injected errors and dropped connections, routing by the operation table, and the generic handlers.

1. ``/oauth/*`` (authorize + token) is answered first, without an API token.
2. No ``User-Agent`` -> 403; no bearer token, or one the fake did not issue -> 401 (unless
   ``accept_any_token=True``).
3. Rate limit (sliding one-second window per token) -> 429.
4. Latency (+ jitter), then an injected error (500, 502 with an HTML body, 503) — *before* any write.
5. The route is found in the operation table; none -> 404 ``{"error": "No such route"}`` (so a workspace
   prefix on a member route is a 404, as on the real API).
6. The operation is served by its kind (`_crud`).
7. A dropped connection (``drop_rate``) is decided before the handler runs; half of the drops happen
   *after* the write was applied — the server did it, the client never heard — like a real network.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from typing import Final

from clickfunnels_async.testing._crud import Crud
from clickfunnels_async.testing._oauth import OAuth
from clickfunnels_async.testing._reply import Dropped, Reply, error, sleep

__all__ = ["Dispatch"]

_HTML_502: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)


class Dispatch(Crud, OAuth):
    """`handle()`: one request in, one `Reply` out (or `Dropped`, or `TimeoutError`)."""

    async def handle(
        self,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        origin: str | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Serve one request. Raises `Dropped` when the fault injector cuts the connection, and
        `TimeoutError` (after `timeout` seconds) when the latency knob makes the answer later than `timeout`."""
        self.request_count += 1
        method = method.upper()
        if path.startswith("/oauth/"):
            self.calls["oauth"] += 1
            return self._oauth(method, path, query, headers, body)
        ua = headers.get("user-agent")
        if not ua or not ua.strip():
            return error(403, "Forbidden: requests need a User-Agent header")
        scheme, _, token = (headers.get("authorization") or "").partition(" ")
        token = token.strip()
        # Strict by default: only the tokens this fake issued (`token`, `add_token`, OAuth) get in.
        if (
            scheme.lower() != "bearer"
            or not token
            or (self._tokens is not None and token not in self._tokens)
        ):
            return error(401, "API key missing or invalid")
        faults = self._faults
        if faults.rate_limit is not None and self._rate_limited(token, faults.rate_limit):
            return error(429, "Too many requests")
        if faults.latency or faults.jitter:
            delay = faults.latency + (
                self._rng.uniform(-faults.jitter, faults.jitter) if faults.jitter else 0.0
            )
            if delay > 0:
                if timeout is not None and delay > timeout:
                    # The client gives up first (nothing else in here waits, so this is the whole deadline).
                    await sleep(max(timeout, 0.0))
                    raise TimeoutError
                await sleep(delay)
        if faults.error_rate and self._rng.random() < faults.error_rate:
            return self._injected_error(self._rng.choice(faults.error_statuses))
        drop_after: bool | None = None
        if faults.drop_rate and self._rng.random() < faults.drop_rate:
            drop_after = self._rng.random() < 0.5
            if not drop_after:
                raise Dropped(applied=False)

        found = self._router.find(method, path)
        if found is None and method in ("PUT", "PATCH"):
            # Rails routes both verbs to update; the spec lists only one of them per route.
            found = self._router.find("PATCH" if method == "PUT" else "PUT", path)
        if found is None:
            self.calls["unrouted"] += 1
            reply = error(404, "No such route")
        else:
            op, params = found
            self.calls[op.id] += 1
            reply = self._serve(
                self._info[op.id], params, query, body, origin or self.base_url, path
            )
            for observer in self._observers:
                observer(op, reply)
        if drop_after:
            raise Dropped(applied=True)
        return reply

    def _rate_limited(self, token: str, limit: int) -> bool:
        now = time.monotonic()
        window = self._windows.get(token)
        if window is None:
            window = self._windows[token] = deque()
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= limit:
            return True
        window.append(now)
        return False

    @staticmethod
    def _injected_error(status: int) -> Reply:
        if status == 502:
            return Reply(502, raw=_HTML_502.encode(), content_type="text/html; charset=utf-8")
        messages = {
            500: "Internal Server Error",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }
        return error(status, messages.get(status, "Injected failure"))
