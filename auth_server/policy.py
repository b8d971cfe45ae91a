"""The authorization policy: scopes.yml, loaded, validated and evaluated.

The file format is the AWS "MCP Gateway & Registry" one (``group_mappings`` plus one
top-level key per scope holding server rules, ``UI-Scopes`` tolerated and ignored)
with ``client_mappings`` added for M2M clients.  Loading never raises and never
yields an allow-all: a missing, empty or broken file becomes a policy that denies
everything and carries the errors, each naming the file, line and key.

Reading the file is :mod:`auth_server.policy_file`'s job.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .identity import Identity

WILDCARDS = frozenset({"*", "all"})
LIFECYCLE_METHODS = frozenset({"initialize", "ping", "server/discover"})
RESERVED_KEYS = frozenset({"group_mappings", "client_mappings", "UI-Scopes"})
RULE_KEYS = frozenset({"server", "methods", "tools"})


def is_lifecycle(method: str | None) -> bool:
    """Messages any caller with access to a server may send, whatever the protocol version.

    ``None`` stands for a JSON-RPC response a client posts back (to a sampling or
    elicitation request of the server) and for requests without a JSON-RPC body.
    """
    return method is None or method in LIFECYCLE_METHODS or method.startswith("notifications/")


@dataclass(frozen=True, slots=True)
class Rule:
    server: str
    methods: frozenset[str]
    tools: frozenset[str]

    @property
    def any_method(self) -> bool:
        return not WILDCARDS.isdisjoint(self.methods)

    @property
    def any_tool(self) -> bool:
        return not WILDCARDS.isdisjoint(self.tools)

    def grants(self, method: str, tool: str | None) -> bool:
        if not (self.any_method or method in self.methods):
            return False
        if method == "tools/call":
            return tool is not None and (self.any_tool or tool in self.tools)
        return True


@dataclass(frozen=True)
class Policy:
    source: str
    group_mappings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    client_mappings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    _index: dict[str, dict[str, tuple[Rule, ...]]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, dict[str, tuple[Rule, ...]]] = {}
        for scope, rules in self.rules.items():
            by_server: dict[str, list[Rule]] = {}
            for rule in rules:
                by_server.setdefault(rule.server, []).append(rule)
            index[scope] = {server: tuple(found) for server, found in by_server.items()}
        object.__setattr__(self, "_index", index)

    @property
    def usable(self) -> bool:
        """False when the file could not be used: the policy then denies everything."""
        return not self.errors

    def scopes_for(self, identity: Identity) -> frozenset[str]:
        scopes = set(identity.token_scopes)
        for group in identity.groups:
            scopes.update(self.group_mappings.get(group, ()))
        if identity.client_id is not None:
            scopes.update(self.client_mappings.get(identity.client_id, ()))
        return frozenset(scopes)

    def allows(self, scopes: Iterable[str], server: str, method: str | None, tool: str | None) -> bool:
        """Whether one of ``scopes`` lets its holder send ``method`` (and ``tool``) to ``server``."""
        rules = self._rules_for(scopes, server)
        if is_lifecycle(method):
            return any(True for _ in rules)
        assert method is not None
        return any(rule.grants(method, tool) for rule in rules)

    def allowed_tools(self, scopes: Iterable[str], server: str) -> tuple[str, ...]:
        """The tools ``scopes`` may call on ``server``, sorted; ``("*",)`` means every tool."""
        tools: set[str] = set()
        for rule in self._rules_for(scopes, server):
            if rule.any_method or "tools/call" in rule.methods:
                if rule.any_tool:
                    return ("*",)
                tools.update(rule.tools)
        return tuple(sorted(tools))

    def scopes_granting(self, server: str, method: str | None, tool: str | None) -> tuple[str, ...]:
        """The scopes that would allow this call: what a 403 tells the caller to obtain."""
        return tuple(sorted(scope for scope in self.rules if self.allows((scope,), server, method, tool)))

    def scopes_naming(self, server: str) -> tuple[str, ...]:
        """Resource-server scopes (``name/permission``) with a rule naming ``server`` itself.

        What a client should request to reach ``server``: the narrowest scopes about it, not
        the wildcard ones that open every server.
        """
        return tuple(
            sorted(
                scope
                for scope, rules in self.rules.items()
                if "/" in scope and any(rule.server == server for rule in rules)
            )
        )

    def resource_scopes(self) -> tuple[str, ...]:
        """Every resource-server scope (``name/permission``) the policy gives a meaning to."""
        return tuple(sorted(scope for scope in self.rules if "/" in scope))

    def _rules_for(self, scopes: Iterable[str], server: str) -> Iterator[Rule]:
        for scope in scopes:
            by_server = self._index.get(scope)
            if by_server:
                yield from by_server.get(server, ())
                yield from by_server.get("*", ())
