"""The authorization policy: scopes.yml, loaded, validated and evaluated.

The file format is the AWS "MCP Gateway & Registry" one (``group_mappings`` plus one
top-level key per scope holding server rules, ``UI-Scopes`` tolerated and ignored)
with ``client_mappings`` added for M2M clients.  Loading never raises and never
yields an allow-all: a missing, empty or broken file becomes a policy that denies
everything and carries the errors, each naming the file, line and key.

The file is walked as YAML nodes rather than loaded as Python values so that every
complaint has a line number, duplicate keys are caught, and scalars stay the
strings the operator typed (a tool called ``yes`` or ``1.0`` is not turned into a
bool or a float).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .identity import Identity

WILDCARDS = frozenset({"*", "all"})
LIFECYCLE_METHODS = frozenset({"initialize", "ping", "server/discover"})
RESERVED_KEYS = frozenset({"group_mappings", "client_mappings", "UI-Scopes"})
RULE_KEYS = frozenset({"server", "methods", "tools"})
_NULL_TAG = "tag:yaml.org,2002:null"


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


def load_policy(path: Path) -> Policy:
    """Read and validate ``path``; problems land in ``errors`` (deny all) or ``warnings``."""
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Policy(source, errors=(f"{source}: file not found; every request is denied",))
    except (OSError, UnicodeDecodeError) as exc:
        return Policy(source, errors=(f"{source}: cannot be read ({exc}); every request is denied",))
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or str(exc)
        return Policy(source, errors=(f"{where}: YAML syntax error: {problem}; every request is denied",))
    if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
        return Policy(source, errors=(f"{source}: file is empty; every request is denied",))
    return _Parser(source).parse(root)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def parse(self, root: Node) -> Policy:
        if not isinstance(root, MappingNode):
            self._error(
                root, "", "the top level must be a mapping of group_mappings, client_mappings and scopes"
            )
            return self._policy({}, {}, {})
        group_mappings: dict[str, tuple[str, ...]] = {}
        client_mappings: dict[str, tuple[str, ...]] = {}
        rules: dict[str, tuple[Rule, ...]] = {}
        ui_scopes: set[str] = set()
        for key, value in self._items(root, ""):
            if key == "group_mappings":
                group_mappings = self._mappings(value, key)
            elif key == "client_mappings":
                client_mappings = self._mappings(value, key)
            elif key == "UI-Scopes":
                if isinstance(value, MappingNode):
                    ui_scopes = {name for name, _ in self._items(value, key)}
            else:
                rules[key] = self._rules(value, key)
        self._check_reachability(group_mappings, client_mappings, rules, ui_scopes)
        if self.errors:
            return self._policy({}, {}, {})
        return self._policy(group_mappings, client_mappings, rules)

    def _policy(
        self,
        group_mappings: dict[str, tuple[str, ...]],
        client_mappings: dict[str, tuple[str, ...]],
        rules: dict[str, tuple[Rule, ...]],
    ) -> Policy:
        errors = [*self.errors]
        if errors:
            errors.append(f"{self.source}: {len(self.errors)} error(s); every request is denied until fixed")
        return Policy(
            self.source, group_mappings, client_mappings, rules, tuple(errors), tuple(self.warnings)
        )

    def _mappings(self, node: Node, where: str) -> dict[str, tuple[str, ...]]:
        if _is_null(node):
            return {}
        if not isinstance(node, MappingNode):
            self._error(node, where, "must be a mapping of name -> list of scopes")
            return {}
        result: dict[str, tuple[str, ...]] = {}
        for name, value in self._items(node, where):
            scopes = self._strings(value, f"{where}.{name}")
            if scopes is not None:
                result[name] = scopes
        return result

    def _rules(self, node: Node, scope: str) -> tuple[Rule, ...]:
        if _is_null(node):
            self._warn(node, scope, "scope has no rules and grants nothing")
            return ()
        if not isinstance(node, SequenceNode):
            self._error(
                node, scope, "a scope must be a list of rules (- server: ..., methods: [...], tools: [...])"
            )
            return ()
        rules: list[Rule] = []
        for position, item in enumerate(node.value):
            where = f"{scope}[{position}]"
            if not isinstance(item, MappingNode):
                self._error(item, where, "a rule must be a mapping with server, methods and tools")
                continue
            fields = dict(self._items(item, where))
            if "server" not in fields:
                self._warn(item, where, "rule has no 'server' and is ignored")
                continue
            for unknown in sorted(fields.keys() - RULE_KEYS):
                self._warn(fields[unknown], f"{where}.{unknown}", "unknown key ignored")
            server = self._scalar(fields["server"], f"{where}.server")
            if server is None:
                continue
            server = server.strip("/")
            if not server:
                self._error(fields["server"], f"{where}.server", "server name is empty")
                continue
            methods = self._strings(fields["methods"], f"{where}.methods") if "methods" in fields else ()
            tools = self._strings(fields["tools"], f"{where}.tools") if "tools" in fields else ()
            if methods is None or tools is None:
                continue
            rules.append(Rule(server, frozenset(methods), frozenset(tools)))
        return tuple(rules)

    def _check_reachability(
        self,
        group_mappings: dict[str, tuple[str, ...]],
        client_mappings: dict[str, tuple[str, ...]],
        rules: dict[str, tuple[Rule, ...]],
        ui_scopes: set[str],
    ) -> None:
        mapped: set[str] = set()
        for kind, mappings in (("group_mappings", group_mappings), ("client_mappings", client_mappings)):
            for name, scopes in mappings.items():
                mapped.update(scopes)
                for scope in scopes:
                    if scope not in rules and scope not in ui_scopes:
                        self.warnings.append(
                            f"{self.source}: {kind}.{name}: scope {scope!r} is not defined in this file"
                        )
        for scope in rules:
            if scope not in mapped:
                self.warnings.append(
                    f"{self.source}: {scope}: no group or client mapping reaches this scope; "
                    "only a token's scope claim can grant it"
                )

    def _items(self, node: MappingNode, where: str) -> Iterator[tuple[str, Node]]:
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = self._scalar(key_node, where or "(top level)")
            if key is None:
                continue
            path = f"{where}.{key}" if where else key
            if key in seen:
                self._error(key_node, path, "duplicate key")
                continue
            seen.add(key)
            yield key, value_node

    def _strings(self, node: Node, where: str) -> tuple[str, ...] | None:
        """A list of names; a lone ``*``/``all`` scalar is accepted as the registry writes it."""
        if _is_null(node):
            return ()
        if isinstance(node, ScalarNode):
            if node.value in WILDCARDS:
                return (node.value,)
            self._error(node, where, f"expected a list, got the scalar {node.value!r} (write [{node.value}])")
            return None
        if not isinstance(node, SequenceNode):
            self._error(node, where, "expected a list of names")
            return None
        names = [self._scalar(item, where) for item in node.value]
        if any(name is None for name in names):
            return None
        return tuple(name for name in names if name is not None)

    def _scalar(self, node: Node, where: str) -> str | None:
        if isinstance(node, ScalarNode) and not _is_null(node) and node.value != "":
            return str(node.value)
        self._error(node, where, "expected a non-empty name")
        return None

    def _error(self, node: Node, where: str, problem: str) -> None:
        self.errors.append(f"{self.source}:{node.start_mark.line + 1}: {where or '(top level)'}: {problem}")

    def _warn(self, node: Node, where: str, problem: str) -> None:
        self.warnings.append(f"{self.source}:{node.start_mark.line + 1}: {where}: {problem}")


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL_TAG
