"""``python -m doctor``: checks a deployment's Amazon Cognito set-up against its own settings.

Teams wiring Cognito to MCP clients and agents trip over the same things (a callback URL not
allowed, a secret where none is expected, a scope a client may not ask for, a group that does
not exist); each shows up at run time as one opaque OAuth error.  The doctor reads the same
settings as the services, asks Cognito (with boto3, when AWS credentials are present) and the
public endpoints, and says for each problem what is wrong and the exact fix, one line each.
"""
