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
from fnmatch import fnmatchcase

from mcp_gateway_core.method_rights import Right, right_for

from .identity import Identity

WILDCARDS = frozenset({"*", "all"})
RESERVED_KEYS = frozenset({"group_mappings", "client_mappings", "client_scopes", "UI-Scopes"})
RULE_KEYS = frozenset({"server", "methods", "tools", "prompts", "resources"})


@dataclass(frozen=True, slots=True)
class Rule:
    server: str
    methods: frozenset[str]
    tools: frozenset[str]
    prompts: frozenset[str] | None = None
    """The prompts ``prompts/get`` may fetch; None when the rule names none, which limits none."""
    resources: tuple[str, ...] | None = None
    """URI patterns (``*`` matches anything, ``/`` included) ``resources/read`` and ``subscribe`` may
    use; None when the rule names none, which limits none."""

    @property
    def any_method(self) -> bool:
        return not WILDCARDS.isdisjoint(self.methods)

    @property
    def any_tool(self) -> bool:
        return not WILDCARDS.isdisjoint(self.tools)

    def lists(self, method: str) -> bool:
        return self.any_method or method in self.methods

    def grants(self, method: str, item: str | None) -> bool:
        if not self.lists(method):
            return False
        right = right_for(method)
        if right is Right.TOOL:
            return item is not None and (self.any_tool or item in self.tools)
        if right is Right.PROMPT:
            return _names(self.prompts, item)
        if right is Right.RESOURCE:
            return _matches(self.resources, item)
        return True

    def grants_some_tool(self) -> bool:
        return self.lists("tools/call") and bool(self.tools)


def _names(names: frozenset[str] | None, item: str | None) -> bool:
    return names is None or not WILDCARDS.isdisjoint(names) or item in names


def _matches(patterns: tuple[str, ...] | None, uri: str | None) -> bool:
    if patterns is None:
        return True
    return uri is not None and any(pattern in WILDCARDS or fnmatchcase(uri, pattern) for pattern in patterns)


@dataclass(frozen=True)
class Policy:
    source: str
    group_mappings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    client_mappings: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    client_scopes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Scopes each app client may ask the IdP for (in Cognito, its allowed custom scopes)."""
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

    def allows(self, scopes: Iterable[str], server: str, method: str | None, item: str | None) -> bool:
        """Whether one of ``scopes`` lets its holder send ``method`` (on ``item``) to ``server``.

        What each method needs is :mod:`mcp_gateway_core.method_rights`' table.
        """
        rules = self._rules_for(scopes, server)
        right = right_for(method)
        if right is Right.ACCESS:
            return any(True for _ in rules)
        if right is Right.SOME_TOOL:
            return any(rule.grants_some_tool() for rule in rules)
        assert method is not None
        return any(rule.grants(method, item) for rule in rules)

    def allowed_tools(self, scopes: Iterable[str], server: str) -> tuple[str, ...]:
        """The tools ``scopes`` may call on ``server``, sorted; ``("*",)`` means every tool."""
        tools: set[str] = set()
        for rule in self._rules_for(scopes, server):
            if rule.lists("tools/call"):
                if rule.any_tool:
                    return ("*",)
                tools.update(rule.tools)
        return tuple(sorted(tools))

    def allowed_prompts(self, scopes: Iterable[str], server: str) -> tuple[str, ...]:
        """The prompts ``scopes`` may get on ``server``, sorted; ``("*",)`` means every prompt."""
        prompts: set[str] = set()
        for rule in self._rules_for(scopes, server):
            if rule.lists("prompts/get"):
                if rule.prompts is None or not WILDCARDS.isdisjoint(rule.prompts):
                    return ("*",)
                prompts.update(rule.prompts)
        return tuple(sorted(prompts))

    def allowed_resources(self, scopes: Iterable[str], server: str) -> tuple[str, ...]:
        """The URI patterns of the resources ``scopes`` may read on ``server``; ``("*",)`` means all."""
        patterns: set[str] = set()
        for rule in self._rules_for(scopes, server):
            if rule.lists("resources/read"):
                if rule.resources is None or not WILDCARDS.isdisjoint(rule.resources):
                    return ("*",)
                patterns.update(rule.resources)
        return tuple(sorted(patterns))

    def scopes_granting(self, server: str, method: str | None, item: str | None) -> tuple[str, ...]:
        """The scopes that would allow this call: what a 403 tells the caller to obtain."""
        return tuple(sorted(scope for scope in self.rules if self.allows((scope,), server, method, item)))

    def requestable(self, client_id: str | None, scopes: Iterable[str]) -> tuple[str, ...]:
        """Those of ``scopes`` that ``client_id`` can obtain by asking the IdP: what a 403 may offer.

        A scope a person holds through a Cognito group cannot be asked for; offering it would
        send an OAuth client into a step-up that ends in ``invalid_scope``.
        """
        allowed = set(self.client_scopes.get(client_id or "", ()))
        return tuple(sorted(scope for scope in scopes if scope in allowed))

    def groups_granting(self, scopes: Iterable[str]) -> tuple[str, ...]:
        """The Cognito groups whose members hold one of ``scopes``."""
        wanted = set(scopes)
        return tuple(sorted(group for group, mapped in self.group_mappings.items() if wanted & set(mapped)))

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

    def requestable_scopes(self) -> tuple[str, ...]:
        """What MCP clients are told they may ask for: every server's :meth:`scopes_naming`.

        Wildcard scopes (rules for server ``*`` only) are left out: they open every server, so
        they reach people through groups and agents through their app client, never by asking.
        Advertising them makes clients that request a whole list end in ``invalid_scope``.
        """
        return tuple(
            sorted(
                scope
                for scope, rules in self.rules.items()
                if "/" in scope and any(rule.server != "*" for rule in rules)
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
