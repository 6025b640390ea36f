"""``python -m clickfunnels_async.testing``: the fake ClickFunnels API on a loopback port."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence


def main(
    argv: Sequence[str] | None = None, *, prog: str = "python -m clickfunnels_async.testing"
) -> int:
    """Parse the options and serve; `clickfunnels emulator serve` calls this too (one set of options)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local, stateful fake of the ClickFunnels 2.0 API on 127.0.0.1.",
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port on 127.0.0.1 (0 = any free port)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback only: 127.0.0.1 or localhost")
    parser.add_argument("--seed", type=int, default=0, help="seed for data and faults")
    parser.add_argument(
        "--token",
        action="append",
        help="the bearer token to accept (repeatable; default: one "
        "the fake makes, printed at start)",
    )
    parser.add_argument(
        "--accept-any-token", action="store_true", help="let any non-empty bearer token in"
    )
    parser.add_argument(
        "--every-resource", type=int, default=0, help="seed this many records of every family"
    )
    parser.add_argument("--contacts", type=int, default=0)
    parser.add_argument("--tags", type=int, default=0)
    parser.add_argument("--products", type=int, default=0)
    parser.add_argument("--orders", type=int, default=0)
    parser.add_argument("--courses", type=int, default=0)
    parser.add_argument("--forms", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to each request")
    parser.add_argument("--jitter", type=float, default=0.0)
    parser.add_argument("--error-rate", type=float, default=0.0)
    parser.add_argument("--drop-rate", type=float, default=0.0)
    parser.add_argument(
        "--rate-limit", type=int, default=None, help="requests per second per token"
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if args.host not in ("127.0.0.1", "localhost"):
        parser.error("the fake only listens on loopback (127.0.0.1); it has no security of its own")

    import socket

    import uvicorn

    from clickfunnels_async.testing._app import build_asgi_app
    from clickfunnels_async.testing._fake import FakeClickFunnels

    fake = FakeClickFunnels(
        seed=args.seed,
        latency=args.latency,
        jitter=args.jitter,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        rate_limit=args.rate_limit,
        tokens=args.token,
        accept_any_token=args.accept_any_token,
    )
    workspace = fake.seed(
        contacts=args.contacts,
        tags=args.tags,
        products=args.products,
        orders=args.orders,
        courses=args.courses,
        forms=args.forms,
        every_resource=args.every_resource,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it. asyncio only sets it itself on sockets made with proto=IPPROTO_TCP, which
    # this one is not: without it every response waits ~40 ms for a delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", args.port))
    # Listening before the URL is printed: a client that connects as soon as it reads it is queued, not refused.
    sock.listen(2048)
    port = sock.getsockname()[1]
    print(f"ClickFunnels fake listening on http://127.0.0.1:{port}", flush=True)
    # The token is the fake's own (it guards nothing real); only it (and --token ones) get in.
    print(
        f"token: {fake.token}" + ("  (any token accepted)" if args.accept_any_token else ""),
        flush=True,
    )
    print(f"team_id: {fake.team_id}  workspace_id: {workspace}", flush=True)
    # "auto": httptools and uvloop when installed (the `testing` extra brings them), else h11 and asyncio;
    # they halve the server's CPU per request, so a client under test is not measured against a slow server.
    config = uvicorn.Config(
        build_asgi_app(fake),
        host="127.0.0.1",
        port=port,
        log_level=args.log_level,
        access_log=False,
        lifespan="on",
        http="auto",
        loop="auto",
    )
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
