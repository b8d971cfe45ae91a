"""Amazon Cognito's naming rules, written once: regions, user pool ids, hosted-UI domains."""

from __future__ import annotations

import re

REGION = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d+$")
POOL_ID = re.compile(r"^(?P<region>[a-z]{2}(?:-[a-z]+)+-\d+)_[0-9A-Za-z]+$")
"""A user pool id names its region: ``us-east-1_AbC123``."""
DOMAIN_PREFIX = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


OIDC_SCOPES = ("openid", "email", "phone", "profile")
"""What Cognito's openid-configuration lists as ``scopes_supported``, for every pool."""


def issuer(region: str, pool_id: str) -> str:
    return f"https://cognito-idp.{region}.amazonaws.com/{pool_id}"


def hosted_ui(prefix: str, region: str) -> str:
    return f"https://{prefix}.auth.{region}.amazoncognito.com"
