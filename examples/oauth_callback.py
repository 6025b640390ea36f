"""OAuth 2 "Connect your ClickFunnels workspace" for a public app, in FastAPI.

``/login`` redirects to ClickFunnels; ClickFunnels redirects back to ``/callback`` with a code, which is
exchanged for a token bound to the workspace the user picked.

Run it::

    export CLICKFUNNELS_CLIENT_ID=... CLICKFUNNELS_CLIENT_SECRET=...
    export CLICKFUNNELS_REDIRECT_URI=http://localhost:8000/callback   # exactly as registered
    uvicorn --factory examples.oauth_callback:create_app_from_env

The pending ``state`` / PKCE verifier live in a server-side dict keyed by ``state`` to keep the example
dependency-free; a real app would keep them in its session store, and would store the token (encrypted)
instead of just showing the workspace.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.responses import RedirectResponse

from clickfunnels_async.oauth import AuthorizationRequest, OAuthClient, OAuthError


def create_app(oauth: OAuthClient) -> FastAPI:
    app = FastAPI()
    # state -> the request it belongs to. A state is single-use: popped at the callback.
    pending: dict[str, AuthorizationRequest] = {}
    app.state.oauth_tokens = []  # what a real app would persist

    @app.get("/login")
    async def login() -> RedirectResponse:
        request = oauth.authorization_url()
        pending[request.state] = request
        return RedirectResponse(request.url, status_code=302)

    @app.get("/callback")
    async def callback(
        code: str | None = None, state: str | None = None, error: str | None = None
    ) -> dict[str, Any]:
        if error:
            # The user declined, or ClickFunnels refused the request.
            raise HTTPException(400, f"authorization failed: {error}")
        issued = pending.pop(state or "", None)
        if issued is None or code is None:
            # Unknown state: forged, replayed or expired callback. Never exchange its code.
            raise HTTPException(400, "unknown or expired login attempt; start again at /login")
        try:
            token = await oauth.exchange_code(
                code,
                code_verifier=issued.code_verifier,
                state=state,
                expected_state=issued.state,
            )
        except OAuthError as exc:
            # The message is safe to show: it never contains the code, secret or verifier.
            raise HTTPException(502, str(exc)) from None
        app.state.oauth_tokens.append(token)
        return {
            "team": token.team_name,
            "workspace": token.workspace_name,
            "workspace_id": token.workspace_id,
            "subdomain": token.subdomain,
        }

    return app


def create_app_from_env(http_client: httpx.AsyncClient | None = None) -> FastAPI:
    return create_app(
        OAuthClient(
            os.environ["CLICKFUNNELS_CLIENT_ID"],
            os.environ.get("CLICKFUNNELS_CLIENT_SECRET"),
            redirect_uri=os.environ["CLICKFUNNELS_REDIRECT_URI"],
            http_client=http_client,
        )
    )


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(create_app_from_env(), host="127.0.0.1", port=8000)
