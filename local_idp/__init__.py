"""A small identity provider that behaves like Amazon Cognito from the outside.

For offline use, the embedded default stack and the tests: JWKS and OIDC discovery
under the issuer, the hosted-UI endpoints (``/oauth2/authorize`` with a login form,
``/oauth2/token``, ``/oauth2/userInfo``, ``/oauth2/revoke``, ``/logout``), Cognito's
error codes, and tokens with Cognito's exact claim shapes.  Never for production.
"""
