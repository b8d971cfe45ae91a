"""The local IdP's HTTP surface, shaped like Cognito's issuer and hosted-UI domain on one origin."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_gateway_core import cognito, html_page, probes
from mcp_gateway_core.variables import IDP as SERVICE

from .config import IdpConfig
from .grants import Grants
from .hosted_ui import HostedUi
from .token_endpoint import TokenEndpoint
from .tokens import SigningKeys


class LocalIdp:
    def __init__(self, config: IdpConfig, keys: SigningKeys, issuer: str, public_url: str) -> None:
        self.config = config
        self.keys = keys
        self.issuer = issuer
        grants = Grants()
        self.hosted_ui = HostedUi(config, public_url, grants)
        self.tokens = TokenEndpoint(config, keys, issuer, grants)

    def app(self) -> Starlette:
        pool = self.config.pool_id
        ui, tokens = self.hosted_ui, self.tokens
        app = Starlette(
            routes=[
                Route(f"/{pool}/.well-known/jwks.json", self.jwks),
                Route(f"/{pool}/.well-known/openid-configuration", self.discovery),
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/oauth2/authorize", ui.authorize, methods=["GET"]),
                Route("/login", ui.login, methods=["POST"]),
                Route("/oauth2/token", tokens.token, methods=["POST"]),
                Route("/oauth2/userInfo", tokens.userinfo, methods=["GET", "POST"]),
                Route("/oauth2/revoke", tokens.revoke, methods=["POST"]),
                Route("/logout", ui.logout, methods=["GET"]),
                Route("/health", self.health),
                Route("/ready", self.ready),
                Route(html_page.FAVICON_PATH, favicon),
            ]
        )
        app.router.redirect_slashes = False
        return app

    async def health(self, request: Request) -> Response:
        return JSONResponse(probes.health(SERVICE))

    async def ready(self, request: Request) -> Response:
        """Everything it needs is loaded before it listens: the checks say what it serves."""
        checks = [
            probes.Check("pool", True, f"{self.config.pool_id}: {len(self.config.clients)} app clients"),
            probes.Check("signing_keys", True, f"{len(self.keys.jwks()['keys'])} keys at {self.issuer}"),
        ]
        status, body = probes.readiness(SERVICE, checks)
        return JSONResponse(body, status_code=status)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self.keys.jwks())

    async def discovery(self, request: Request) -> Response:
        """Cognito's document, omissions included: no code_challenge_methods_supported, no registration."""
        base = str(request.base_url).rstrip("/")
        return JSONResponse(
            {
                "authorization_endpoint": f"{base}/oauth2/authorize",
                "end_session_endpoint": f"{base}/logout",
                "id_token_signing_alg_values_supported": ["RS256"],
                "issuer": self.issuer,
                "jwks_uri": f"{self.issuer}/.well-known/jwks.json",
                "response_types_supported": ["code", "token"],
                "revocation_endpoint": f"{base}/oauth2/revoke",
                "scopes_supported": list(cognito.OIDC_SCOPES),
                "subject_types_supported": ["public"],
                "token_endpoint": f"{base}/oauth2/token",
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "userinfo_endpoint": f"{base}/oauth2/userInfo",
            }
        )


async def favicon(request: Request) -> Response:
    return Response(html_page.FAVICON, headers=html_page.FAVICON_HEADERS)
