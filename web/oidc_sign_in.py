"""Sign in with an OpenID Connect provider, for sales whose access policy is "login".

Any provider with a discovery document works (Google's is
https://accounts.google.com/.well-known/openid-configuration); the client is
Authlib's Starlette client, registered once per web process from the settings.

- ``GET /sign-in/oidc?next=/e/<id>`` sends the browser to the provider with an
  authorization code request: ``state``, a ``nonce`` and a PKCE (S256)
  challenge, all kept with ``next`` in a signed cookie of their own
  (``fairdrop_oidc``, Starlette's SessionMiddleware, 10 minutes, only sent to
  these two paths).
- ``GET /sign-in/oidc/callback`` is where the provider sends the browser back.
  Authlib checks the state against that cookie, exchanges the code with the
  PKCE verifier, and checks the ID token: its signature against the
  provider's JWKS, then issuer, audience, expiry and nonce. The fan's session
  cookie then names ``Identity("oidc", sub, issuer)`` and the browser goes
  back to ``next`` (303).

Every refusal is a ``sign_in_failed`` 400 naming the reason, and sets no fan
session. A provider that cannot be reached, or answers with a server error,
is ``sign_in_unavailable`` 503: the one answer here that is not a 4xx, since
the fault is neither the fan's nor ours. With no provider configured both
paths answer 404 ``login_not_configured``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from typing import Any

import httpx2
from authlib.integrations.base_client import MismatchingStateError
from authlib.integrations.starlette_client import OAuth, OAuthError
from joserfc.errors import JoseError
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from fairdrop.errors import ErrorCode, FairdropError
from fairdrop.identity import OIDC, Identity
from fairdrop.settings import Settings
from web.auth import set_session_cookie
from web.context import context_of
from web.rate_limits import Action
from web.validation import invalid

log = logging.getLogger("fairdrop.oidc")

SIGN_IN_PATH = "/sign-in/oidc"
CALLBACK_PATH = "/sign-in/oidc/callback"
FLOW_COOKIE = "fairdrop_oidc"
# Time to sign in at the provider; the cookie's signature carries its age, so an
# older flow is refused even if a browser kept the cookie.
FLOW_SECONDS = 600
# Scopes asked for besides "openid", when the provider offers them.
EXTRA_SCOPES = ("email", "profile")
MAX_NEXT = 2048
# OpenID Connect Core 1.0, 2: a sub "MUST NOT exceed 255 ASCII characters"; the
# session cookie holds no longer subject or issuer (fairdrop/tokens.py).
MAX_PART = 255
# Printable ASCII without spaces: nothing in it can end the Location header.
_PRINTABLE_PATH = re.compile(r"/[!-~]*")
_NAME = "oidc"  # the registration's name in Authlib's OAuth registry


def local_path(raw: str) -> str:
    """``next`` as a path on this site, or a 422: never another site's address.

    To a browser "//host/..." and "/\\host/..." are addresses on another site
    (scheme-relative), so a path starts with exactly one "/" and holds no backslash.
    """
    if (
        len(raw) > MAX_NEXT
        or _PRINTABLE_PATH.fullmatch(raw) is None
        or raw.startswith("//")
        or "\\" in raw
    ):
        raise invalid("next must be a path on this site starting with a single /, e.g. /e/<id>")
    return raw


def _failed(reason: str) -> FairdropError:
    return FairdropError(ErrorCode.SIGN_IN_FAILED, f"sign-in failed: {reason}")


def _unavailable(error: Exception) -> FairdropError:
    log.warning("the OpenID Connect provider cannot be reached: %r", error)
    return FairdropError(
        ErrorCode.SIGN_IN_UNAVAILABLE,
        "the sign-in provider cannot be reached just now: try again in a moment",
    )


def _reason(error: object, description: object) -> str:
    """An OAuth or JOSE error and its description, cut short for a message.

    They can be anyone's words: a forged callback chooses them.
    """
    reason = str(error)[:60]
    return f"{reason}: {str(description)[:200]}" if description else reason


class OidcSignIn:
    """The provider registration and the two routes that use it."""

    def __init__(self, settings: Settings) -> None:
        self.redirect_uri = settings.public_base_url + CALLBACK_PATH
        self.client_id = settings.oidc_client_id
        oauth = OAuth()
        oauth.register(
            _NAME,
            client_id=settings.oidc_client_id,
            client_secret=settings.oidc_client_secret or None,
            server_metadata_url=settings.oidc_discovery_url,
            client_kwargs={
                "code_challenge_method": "S256",
                # Without a secret this is a public client: PKCE is its only proof.
                "token_endpoint_auth_method": (
                    "client_secret_basic" if settings.oidc_client_secret else "none"
                ),
                "timeout": 10.0,
            },
        )
        # The discovery document and the JWKS are fetched on first use and kept;
        # a key the cached JWKS lacks makes Authlib fetch it again (key rotation).
        self.client: Any = oauth.create_client(_NAME)

    async def _issuer_and_scope(self) -> tuple[str, str]:
        try:
            metadata = await self.client.load_server_metadata()
        # ValueError: an answer that is not JSON, e.g. a gateway's error page.
        except (httpx2.HTTPError, ValueError) as error:
            raise _unavailable(error) from error
        issuer = metadata.get("issuer")
        if not isinstance(issuer, str) or not 0 < len(issuer) <= MAX_PART:
            raise _unavailable(ValueError("the discovery document names no usable issuer"))
        offered = metadata.get("scopes_supported") or ()
        scope = " ".join(["openid", *(s for s in EXTRA_SCOPES if s in offered)])
        return issuer, scope

    async def start(self, request: Request) -> Response:
        next_path = local_path(request.query_params.get("next", "/"))
        _, scope = await self._issuer_and_scope()  # once per process, then cached
        # A login begun is a sign-in asked for, as an email is (web/rate_limits.py).
        await context_of(request).limits.spend(request, Action.SIGN_IN)
        # authorize_redirect without the redirect: ``next`` rides in Authlib's
        # state data, so it is tied to this one flow and signed with it.
        authorization = await self.client.create_authorization_url(self.redirect_uri, scope=scope)
        await self.client.save_authorize_data(
            request, redirect_uri=self.redirect_uri, next=next_path, **authorization
        )
        return RedirectResponse(authorization["url"], status_code=302)

    async def finish(self, request: Request) -> Response:
        # Before the token exchange, which costs a call to the provider.
        await context_of(request).limits.admit(request)
        params = request.query_params
        if not params.get("error") and not params.get("code"):
            raise _failed("the provider's answer has no code")
        issuer, _ = await self._issuer_and_scope()
        # Read before authorize_access_token, which forgets the flow once used.
        flow = await self.client.framework.get_state_data(request.session, params.get("state"))
        claims = await self._checked_claims(request, issuer)
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= MAX_PART:
            raise _failed("the provider's ID token has no usable subject")
        ctx = context_of(request)
        session = ctx.signer.new_session(
            Identity(OIDC, subject, issuer), ctx.settings.session_hours * 3600
        )
        # The flow is there: authorize_access_token refuses a state without one.
        response = RedirectResponse(flow["next"], status_code=303)
        set_session_cookie(response, ctx.signer, ctx.settings, session)
        return response

    async def _checked_claims(self, request: Request, issuer: str) -> dict[str, Any]:
        """The ID token's claims once Authlib has checked the flow and the token."""
        # Authlib checks the issuer only when the discovery document names one,
        # and the audience only through azp; both are required outright here.
        claims_options = {
            "iss": {"essential": True, "value": issuer},
            "aud": {"essential": True, "value": self.client_id},
        }
        try:
            token = await self.client.authorize_access_token(request, claims_options=claims_options)
        except MismatchingStateError as error:
            raise _failed(
                "this sign-in was not started in this browser, was finished already or is "
                f"over {FLOW_SECONDS // 60} minutes old: start again"
            ) from error
        except OAuthError as error:
            # An error the provider sent back (e.g. access_denied), or one its token
            # endpoint answered (e.g. invalid_grant for a used or unknown code).
            reason = _reason(error.error, error.description)
            raise _failed(f"the provider answered {reason}") from error
        except JoseError as error:
            reason = _reason(error.error, error.description)
            raise _failed(f"the provider's ID token is not valid ({reason})") from error
        except httpx2.HTTPError as error:
            raise _unavailable(error) from error
        # The token answer must carry an ID token: its claims are what Authlib checked.
        claims = token.get("userinfo")
        if not claims:
            raise _failed("the provider sent no ID token")
        return dict(claims)


def _flow_cookie_key(secret: str) -> str:
    # Its own key: a flow cookie can never pass as anything else signed with the secret.
    return hmac.new(secret.encode(), b"fairdrop.oidc-flow", hashlib.sha256).hexdigest()


def middleware(settings: Settings, secret: str) -> list[Middleware]:
    """The signed cookie Authlib keeps a flow in; none when login is not configured."""
    if not settings.login_enabled:
        return []
    return [
        Middleware(
            SessionMiddleware,
            secret_key=_flow_cookie_key(secret),
            session_cookie=FLOW_COOKIE,
            max_age=FLOW_SECONDS,
            path=SIGN_IN_PATH,
            same_site="lax",
            https_only=settings.cookie_secure,
        )
    ]


async def _login_not_configured(request: Request) -> Response:
    raise FairdropError(
        ErrorCode.LOGIN_NOT_CONFIGURED,
        "this site has no sign-in provider: set FAIRDROP_OIDC_DISCOVERY_URL and "
        "FAIRDROP_OIDC_CLIENT_ID",
    )


def routes(settings: Settings) -> list[Route]:
    """The sign-in routes, bound to this process's one provider registration."""
    if not settings.login_enabled:
        return [
            Route(SIGN_IN_PATH, _login_not_configured),
            Route(CALLBACK_PATH, _login_not_configured),
        ]
    sign_in = OidcSignIn(settings)
    return [Route(SIGN_IN_PATH, sign_in.start), Route(CALLBACK_PATH, sign_in.finish)]
