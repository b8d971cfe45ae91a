"""Reading scopes.yml into a :class:`~auth_server.policy.Policy`, every problem with its file and line.

The file is walked as YAML nodes rather than loaded as Python values so that every
complaint has a line number, duplicate keys are caught, and scalars stay the strings
the operator typed (a tool called ``yes`` or ``1.0`` is not turned into a bool or a
float).  Loading never raises and never yields an allow-all: a missing, empty or broken
file becomes a policy that denies everything and carries the errors.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .policy import RULE_KEYS, WILDCARDS, Policy, Rule

_NULL_TAG = "tag:yaml.org,2002:null"


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
        client_scopes: dict[str, tuple[str, ...]] = {}
        rules: dict[str, tuple[Rule, ...]] = {}
        ui_scopes: set[str] = set()
        for key, value in self._items(root, ""):
            if key == "group_mappings":
                group_mappings = self._mappings(value, key)
            elif key == "client_mappings":
                client_mappings = self._mappings(value, key)
            elif key == "client_scopes":
                client_scopes = self._mappings(value, key)
            elif key == "UI-Scopes":
                if isinstance(value, MappingNode):
                    ui_scopes = {name for name, _ in self._items(value, key)}
            else:
                rules[key] = self._rules(value, key)
        self._check_reachability(group_mappings, client_mappings, client_scopes, rules, ui_scopes)
        if self.errors:
            return self._policy({}, {}, {})
        return self._policy(group_mappings, client_mappings, rules, client_scopes)

    def _policy(
        self,
        group_mappings: dict[str, tuple[str, ...]],
        client_mappings: dict[str, tuple[str, ...]],
        rules: dict[str, tuple[Rule, ...]],
        client_scopes: dict[str, tuple[str, ...]] | None = None,
    ) -> Policy:
        errors = [*self.errors]
        if errors:
            errors.append(f"{self.source}: {len(self.errors)} error(s); every request is denied until fixed")
        return Policy(
            self.source,
            group_mappings,
            client_mappings,
            rules,
            tuple(errors),
            tuple(self.warnings),
            client_scopes or {},
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
            prompts = self._strings(fields["prompts"], f"{where}.prompts") if "prompts" in fields else None
            resources = (
                self._strings(fields["resources"], f"{where}.resources") if "resources" in fields else None
            )
            if methods is None or tools is None or ("prompts" in fields and prompts is None):
                continue
            if "resources" in fields and resources is None:
                continue
            rules.append(
                Rule(
                    server,
                    frozenset(methods),
                    frozenset(tools),
                    None if prompts is None else frozenset(prompts),
                    resources,
                )
            )
        return tuple(rules)

    def _check_reachability(
        self,
        group_mappings: dict[str, tuple[str, ...]],
        client_mappings: dict[str, tuple[str, ...]],
        client_scopes: dict[str, tuple[str, ...]],
        rules: dict[str, tuple[Rule, ...]],
        ui_scopes: set[str],
    ) -> None:
        mapped: set[str] = set()
        kinds = (
            ("group_mappings", group_mappings),
            ("client_mappings", client_mappings),
            ("client_scopes", client_scopes),
        )
        for kind, mappings in kinds:
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
