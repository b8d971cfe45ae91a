"""OAuth discovery for MCP clients, served at the gateway's public URL.

Cognito publishes neither RFC 9728 resource metadata nor RFC 8414 server metadata, and
its OpenID document lacks ``code_challenge_methods_supported`` (without which current
MCP clients refuse to start) and lists only ``openid email phone profile`` as scopes.
So the gateway names itself as the authorization server and republishes Cognito's
endpoints with what MCP clients need.  The issuer of that document is the gateway's
URL (RFC 8414 requires it to match where it was fetched); tokens keep Cognito's issuer.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mcp_gateway_core.mcp_request import BadRequest, parse_target, quote_path

from .config import Settings
from .policy_store import PolicyStore

OIDC_SCOPES = ("openid", "email", "profile")
PRM_PREFIX = "/.well-known/oauth-protected-resource"


def resource_url(external_url: str, path: str) -> str:
    """The resource a path names; the 401's ``resource_metadata`` is the PRM URL of exactly this."""
    return external_url + quote_path(path)


def resource_metadata_url(external_url: str, path: str) -> str:
    return external_url + PRM_PREFIX + quote_path(path)


def discovery_routes(settings: Settings, policies: PolicyStore) -> list[Route]:
    def not_found(reason: str) -> Response:
        return JSONResponse({"error": "not_found", "error_description": reason}, status_code=404)

    async def protected_resource(request: Request) -> Response:
        suffix = request.url.path.removeprefix(PRM_PREFIX)
        metadata: dict[str, Any] = {
            "authorization_servers": [settings.gateway_external_url],
            "bearer_methods_supported": ["header"],
        }
        if not suffix:
            metadata.update(
                resource=settings.gateway_external_url,
                resource_name="MCP gateway",
                scopes_supported=list(policies.current.requestable_scopes()),
            )
            return JSONResponse(metadata)
        try:
            target = parse_target(suffix)
        except BadRequest as exc:
            return not_found(str(exc))
        known = request.headers.get("x-gateway-servers")
        if known is not None and target.server not in known.split(","):
            return not_found(f"no MCP server named {target.server!r}")
        metadata.update(
            resource=resource_url(settings.gateway_external_url, target.path),
            resource_name=f"MCP server {target.server} behind the MCP gateway",
            scopes_supported=list(policies.current.scopes_naming(target.server)),
        )
        return JSONResponse(metadata)

    async def authorization_server(request: Request) -> Response:
        if settings.cognito_domain is None:
            return not_found("no hosted UI is configured (COGNITO_DOMAIN)")
        domain = settings.cognito_domain
        return JSONResponse(
            {
                "issuer": settings.gateway_external_url,
                "authorization_endpoint": f"{domain}/oauth2/authorize",
                "token_endpoint": f"{domain}/oauth2/token",
                "revocation_endpoint": f"{domain}/oauth2/revoke",
                "userinfo_endpoint": f"{domain}/oauth2/userInfo",
                "jwks_uri": f"{settings.issuer}/.well-known/jwks.json",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_basic",
                    "client_secret_post",
                    "none",
                ],
                "scopes_supported": [*OIDC_SCOPES, *policies.current.requestable_scopes()],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    return [
        Route(PRM_PREFIX, protected_resource),
        Route(PRM_PREFIX + "/{rest:path}", protected_resource),
        Route("/.well-known/oauth-authorization-server", authorization_server),
        Route("/.well-known/openid-configuration", authorization_server),
    ]
