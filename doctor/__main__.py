"""``python -m doctor``: one line per finding; exit 1 when any is a problem, 2 when settings are broken."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping

import boto3
from botocore.config import Config
from dotenv import load_dotenv

from mcp_gateway_core.env import ConfigError

from .deployment import Deployment, read_deployment
from .findings import Finding, Level, note, problem
from .pool import PoolUnreadable, read_pool
from .pool_checks import client_sources, pool_findings
from .public_checks import public_findings


def aws_findings(deployment: Deployment, timeout: float) -> list[Finding]:
    settings = deployment.settings
    if settings.user_pool_id is None:
        return [note("aws", "COGNITO_USER_POOL_ID is not set (another issuer): only the public checks ran")]
    session = boto3.Session(region_name=settings.aws_region)
    if session.get_credentials() is None:
        return [
            note(
                "aws",
                "no AWS credentials: only the public checks ran",
                "run again with credentials that may read the pool (cognito-idp:Describe*, cognito-idp:List*)",
            )
        ]
    client = session.client(
        "cognito-idp",
        config=Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 2}),
    )
    try:
        pool = read_pool(
            client, settings.user_pool_id, set(client_sources(deployment)), deployment.domain_prefix
        )
    except PoolUnreadable as exc:
        return [
            problem(
                "pool", str(exc), "check COGNITO_USER_POOL_ID, AWS_REGION and the AWS credentials' account"
            )
        ]
    return pool_findings(deployment, pool)


def diagnose(environ: Mapping[str, str] | None = None, timeout: float = 5.0) -> list[Finding]:
    try:
        deployment = read_deployment(environ)
    except ConfigError as exc:
        return [problem("config", f"{name}: {text}", "see .env.template") for name, text in exc.problems]
    policy = deployment.policy
    findings = [problem("policy", error, "correct scopes.yml") for error in policy.errors]
    findings += public_findings(deployment, timeout)
    findings += aws_findings(deployment, timeout)
    return findings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m doctor",
        description="Checks the Amazon Cognito set-up against this deployment's settings (the same environment "
        "and --env-file the services read; .env.template documents each). With AWS credentials it reads the "
        "user pool (read-only calls); without, it checks what is public. One line per finding, each with its fix.",
    )
    parser.add_argument("--env-file", default=".env", help="read variables from this file if it exists")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds for each network call (default 5)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="print problems and notes only, not passed checks"
    )
    args = parser.parse_args(argv)
    load_dotenv(args.env_file, override=False)
    findings = diagnose(timeout=args.timeout)
    for finding in findings:
        if not (args.quiet and finding.level is Level.OK):
            print(finding.line())
    problems = sum(finding.level is Level.PROBLEM for finding in findings)
    if any(finding.check == "config" for finding in findings):
        return 2
    print(f"{problems} problem(s)" if problems else "no problems found")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
