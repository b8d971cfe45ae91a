"""scopes.yml: loading, validation with file/line/key, and allow/deny per server, method and tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from auth_server.identity import Identity
from auth_server.policy import Policy
from auth_server.policy_file import load_policy
from auth_server.policy_store import PolicyStore

DATA = Path(__file__).parent / "data"


def who(groups: tuple[str, ...] = (), scopes: tuple[str, ...] = (), client_id: str | None = None) -> Identity:
    return Identity("u", "u", client_id, groups, scopes, None, "jwt", 0)


@pytest.fixture(scope="module")
def policy() -> Policy:
    loaded = load_policy(DATA / "scopes.yml")
    assert loaded.usable, loaded.errors
    return loaded


def test_caller_scopes_union_claim_groups_and_client(policy: Policy) -> None:
    identity = who(
        groups=("finance", "unknown-group"), scopes=("openid", "x/y"), client_id="m2m4client5id6xyz"
    )
    assert policy.scopes_for(identity) == {
        "openid",
        "x/y",
        "fin/read",
        "fin/execute",
        "fin-json/read",
        "time/only",
    }


def test_tool_level_decisions(policy: Policy) -> None:
    user = policy.scopes_for(who(groups=("mcp-registry-user",)))
    assert policy.allows(user, "currenttime", "tools/call", "current_time_by_timezone")
    assert not policy.allows(user, "currenttime", "tools/call", "set_time")
    assert policy.allows(user, "currenttime", "tools/list", None)
    assert not policy.allows(user, "currenttime", "resources/read", None)
    assert policy.allows(user, "fininfo", "tools/list", None)
    assert not policy.allows(user, "fininfo", "tools/call", "get_stock_aggregates")
    assert not policy.allows(user, "other", "tools/list", None)


def test_methods_are_granted_per_scope_and_server(policy: Policy) -> None:
    finance = policy.scopes_for(who(groups=("finance",)))
    assert policy.allows(finance, "fininfo", "tools/call", "get_stock_aggregates")
    assert policy.allows(finance, "fininfo", "tools/call", "print_stock_data")
    assert policy.allows(finance, "fininfo", "resources/read", None)
    assert not policy.allows(finance, "currenttime", "tools/call", "current_time_by_timezone")


def test_wildcards(policy: Policy) -> None:
    admin = policy.scopes_for(who(groups=("mcp-registry-admin",)))
    assert policy.allows(admin, "anything", "tools/call", "any_tool")
    assert policy.allows(admin, "anything", "prompts/get", None)
    assert policy.allowed_tools(admin, "anything") == ("*",)
    m2m = policy.scopes_for(who(scopes=("mcp-servers-restricted/read",)))
    assert policy.allows(m2m, "currenttime", "tools/call", "whatever")
    assert not policy.allows(m2m, "fininfo", "tools/call", "whatever")


def test_lifecycle_needs_only_some_rule_for_the_server(policy: Policy) -> None:
    only_call = policy.scopes_for(who(client_id="m2m4client5id6xyz"))
    for method in (
        "initialize",
        "ping",
        "server/discover",
        "notifications/initialized",
        "notifications/cancelled",
        None,
    ):
        assert policy.allows(only_call, "currenttime", method, None), method
        assert not policy.allows(only_call, "fininfo", method, None), method
    assert not policy.allows(only_call, "currenttime", "tools/list", None)


def test_tools_call_needs_a_tool_name(policy: Policy) -> None:
    admin = policy.scopes_for(who(groups=("mcp-registry-admin",)))
    assert not policy.allows(admin, "currenttime", "tools/call", None)


def test_allowed_tools_and_granting_scopes(policy: Policy) -> None:
    finance = policy.scopes_for(who(groups=("finance", "mcp-registry-user")))
    assert policy.allowed_tools(finance, "fininfo") == ("get_stock_aggregates", "print_stock_data")
    assert policy.allowed_tools(finance, "currenttime") == ("current_time_by_timezone",)
    assert policy.allowed_tools(finance, "nowhere") == ()
    assert policy.scopes_granting("fininfo", "tools/call", "print_stock_data") == ("admin/all", "fin/execute")


def test_the_repository_policy_loads_cleanly() -> None:
    repo = load_policy(Path(__file__).parent.parent / "scopes.yml")
    assert repo.usable and not repo.warnings, (repo.errors, repo.warnings)


def test_registry_file_loads_unchanged() -> None:
    registry = load_policy(DATA / "registry_scopes.yml")
    assert registry.usable, registry.errors
    assert registry.warnings == ()
    admin = registry.scopes_for(who(groups=("0b5f9e1a-3c2d-4e6f-8a7b-9c0d1e2f3a4b",)))
    assert registry.allows(admin, "fininfo", "tools/call", "print_stock_data")
    user = registry.scopes_for(who(groups=("mcp-registry-user",)))
    assert registry.allows(user, "currenttime", "tools/call", "current_time_by_timezone")
    assert not registry.allows(user, "fininfo", "tools/list", None)


def test_registry_variants_load_with_warnings() -> None:
    variant = load_policy(DATA / "registry_variant_scopes.yml")
    assert variant.usable, variant.errors
    assert variant.warnings == (
        f"{DATA / 'registry_variant_scopes.yml'}:13: registry-admins[1]: rule has no 'server' and is ignored",
    )
    admins = variant.scopes_for(who(groups=("registry-admins",)))
    assert variant.allows(admins, "anything", "tools/call", "x")
    public = variant.scopes_for(who(groups=("public-mcp-users",)))
    assert variant.allows(public, "context7", "tools/call", "resolve-library-id")
    assert not variant.allows(public, "context7", "resources/read", None)
    assert variant.allows(public, "api", None, None)
    assert not variant.allows(public, "api", "tools/call", "x")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scopes.yml"
    path.write_text(text)
    return path


def assert_denies_everything(policy: Policy) -> None:
    assert not policy.usable
    everyone = {"admin/all", "a", "*"}
    assert not policy.allows(everyone, "currenttime", "tools/call", "x")
    assert not policy.allows(everyone, "currenttime", None, None)
    assert policy.allowed_tools(everyone, "currenttime") == ()


def test_missing_file_denies_everything(tmp_path: Path) -> None:
    policy = load_policy(tmp_path / "nope.yml")
    assert_denies_everything(policy)
    assert "file not found" in policy.errors[0]


@pytest.mark.parametrize("text", ["", "   \n# only a comment\n", "~\n"])
def test_empty_file_denies_everything(tmp_path: Path, text: str) -> None:
    policy = load_policy(write(tmp_path, text))
    assert_denies_everything(policy)
    assert "empty" in policy.errors[0]


BROKEN = {
    "syntax": ("group_mappings:\n  a: [x\nb: 1\n", 3, "YAML syntax error"),
    "top level list": ("- server: '*'\n", 1, "top level must be a mapping"),
    "mapping not list": (
        "group_mappings:\n  admins: admin/all\nadmin/all:\n  - server: '*'\n",
        2,
        "group_mappings.admins: expected a list",
    ),
    "scope not list": (
        "group_mappings:\n  admins: [admin/all]\nadmin/all:\n  server: '*'\n",
        4,
        "admin/all: a scope must be a list",
    ),
    "rule not mapping": (
        "group_mappings:\n  a: [s]\ns:\n  - currenttime\n",
        4,
        "s[0]: a rule must be a mapping",
    ),
    "methods scalar": (
        "group_mappings:\n  a: [s]\ns:\n  - server: x\n    methods: tools/call\n",
        5,
        "s[0].methods: expected a list",
    ),
    "duplicate scope": (
        "group_mappings:\n  a: [s]\ns:\n  - server: x\ns:\n  - server: '*'\n    methods: ['*']\n",
        5,
        "s: duplicate key",
    ),
    "nested tools list": (
        "group_mappings:\n  a: [s]\ns:\n  - server: x\n    tools: [[a]]\n",
        5,
        "s[0].tools: expected a non-empty name",
    ),
    "empty server": (
        "group_mappings:\n  a: [s]\ns:\n  - server: ''\n",
        4,
        "s[0].server: expected a non-empty name",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_file_denies_everything_and_names_file_line_key(tmp_path: Path, case: str) -> None:
    text, line, problem = BROKEN[case]
    path = write(tmp_path, text)
    policy = load_policy(path)
    assert_denies_everything(policy)
    assert policy.errors[0].startswith(f"{path}:{line}: "), policy.errors
    assert problem in policy.errors[0], policy.errors


def test_unreachable_and_undefined_scopes_are_warned(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "group_mappings:\n  a: [s, missing]\ns:\n  - server: x\n    methods: [ping]\n    tool: [t]\norphan:\n  - server: y\n",
    )
    policy = load_policy(path)
    assert policy.usable
    joined = "\n".join(policy.warnings)
    assert f"{path}:6: s[0].tool: unknown key ignored" in joined
    assert "group_mappings.a: scope 'missing' is not defined" in joined
    assert "orphan: no group or client mapping reaches this scope" in joined


def test_yaml_scalars_stay_strings(tmp_path: Path) -> None:
    policy = load_policy(
        write(
            tmp_path,
            "group_mappings:\n  '1': [s]\ns:\n  - server: x\n    methods: [tools/call]\n    tools: [yes, 1.0, null_tool]\n",
        )
    )
    scopes = policy.scopes_for(who(groups=("1",)))
    assert policy.allows(scopes, "x", "tools/call", "yes")
    assert policy.allows(scopes, "x", "tools/call", "1.0")


def test_store_reloads_on_change_and_a_broken_edit_denies(tmp_path: Path) -> None:
    path = write(tmp_path, "group_mappings:\n  a: [s]\ns:\n  - server: x\n    methods: [ping]\n")
    store = PolicyStore(path)
    first = store.generation
    scopes = store.current.scopes_for(who(groups=("a",)))
    assert store.current.allows(scopes, "x", None, None)
    assert not store.reload_if_changed()
    path.write_text("group_mappings:\n  a: [s]\ns:\n  - server: y\n    methods: [ping]\n    # grown\n")
    assert store.reload_if_changed()
    assert store.generation == first + 1
    assert not store.current.allows(scopes, "x", None, None)
    assert store.current.allows(scopes, "y", None, None)
    path.write_text("group_mappings: [\n")
    assert store.reload_if_changed()
    assert_denies_everything(store.current)
