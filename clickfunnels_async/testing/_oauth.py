"""OAuth on the accounts host: ``/oauth/authorize`` (authorization code, PKCE S256) and ``/oauth/token``.
A token it hands out is accepted by the fake from then on."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from clickfunnels_async.testing._base import DEFAULT_TEAM_ID, DEFAULT_WORKSPACE_ID, FakeBase
from clickfunnels_async.testing._reply import Reply, error

__all__ = ["OAuth"]


class OAuth(FakeBase):
    """The authorization-code grant."""

    _oauth_codes: dict[str, dict[str, Any]]

    def add_token(self, token: str) -> None:
        """Accept one more bearer token (besides `token`)."""
        if self._tokens is not None:
            self._tokens.add(token)

    def _oauth(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Reply:
        if path.rstrip("/") == "/oauth/authorize" and method == "GET":
            params = dict(parse_qsl(query))
            redirect_uri = params.get("redirect_uri")
            if (
                not params.get("client_id")
                or not redirect_uri
                or params.get("response_type") != "code"
            ):
                return Reply(
                    400,
                    {
                        "error": "invalid_request",
                        "error_description": "client_id, redirect_uri and response_type=code are required",
                    },
                )
            method_ = params.get(
                "code_challenge_method", "S256" if params.get("code_challenge") else None
            )
            if method_ not in (None, "S256"):
                return Reply(
                    400, {"error": "invalid_request", "error_description": "only S256 is supported"}
                )
            code = secrets.token_urlsafe(24)
            self._oauth_codes[code] = {
                "client_id": params["client_id"],
                "redirect_uri": redirect_uri,
                "challenge": params.get("code_challenge"),
                "scope": params.get("scope"),
            }
            out = {"code": code}
            if "state" in params:
                out["state"] = params["state"]
            sep = "&" if "?" in redirect_uri else "?"
            return Reply(302, headers=[("Location", f"{redirect_uri}{sep}{urlencode(out)}")])
        if path.rstrip("/") == "/oauth/token" and method == "POST":
            content_type = (headers.get("content-type") or "").lower()
            form: dict[str, Any]
            try:
                if "json" in content_type or body.strip().startswith(b"{"):
                    form = json.loads(body or b"{}")
                else:
                    form = dict(parse_qsl(body.decode()))
            except ValueError:
                return Reply(
                    400, {"error": "invalid_request", "error_description": "unreadable body"}
                )
            if not isinstance(form, dict) or form.get("grant_type") != "authorization_code":
                return Reply(
                    400,
                    {
                        "error": "unsupported_grant_type",
                        "error_description": "only authorization_code is supported",
                    },
                )
            grant = self._oauth_codes.pop(str(form.get("code")), None)
            if (
                grant is None
                or grant["client_id"] != form.get("client_id")
                or grant["redirect_uri"] != form.get("redirect_uri")
            ):
                return Reply(
                    400,
                    {
                        "error": "invalid_grant",
                        "error_description": "The provided authorization grant is invalid, expired, "
                        "revoked, or was issued to another client.",
                    },
                )
            if grant["challenge"]:
                verifier = form.get("code_verifier")
                if not isinstance(verifier, str) or _s256(verifier) != grant["challenge"]:
                    return Reply(
                        400,
                        {"error": "invalid_grant", "error_description": "PKCE verification failed"},
                    )
            token = "cf_oauth_" + secrets.token_urlsafe(24)
            self.add_token(token)
            team = self._store("teams").by_id[DEFAULT_TEAM_ID]
            ws = self._store("workspaces").by_id[DEFAULT_WORKSPACE_ID]
            return Reply(
                200,
                {
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": 7200,
                    "scope": grant["scope"] or "admin read",
                    "created_at": int(time.time()),
                    "team_id": team["id"],
                    "team_name": team["name"],
                    "workspace_id": ws["id"],
                    "workspace_name": ws["name"],
                    "workspace_url": f"https://{ws['subdomain']}.myclickfunnels.com",
                },
            )
        return error(404, "No such route")


def _s256(verifier: str) -> str:
    return (
        urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        .rstrip(b"=")
        .decode()
    )
