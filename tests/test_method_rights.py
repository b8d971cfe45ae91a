"""Every MCP method and the right it needs: the table is walked, and the README shows the same table."""

from __future__ import annotations

import re

import pytest

from auth_server.policy import Policy, Rule
from mcp_gateway_core.mcp_request import ITEMS
from mcp_gateway_core.method_rights import METHODS, Right, right_for
from tests.servers import ROOT

ITEM = {
    "tools/call": "t",
    "prompts/get": "p",
    "resources/read": "file:///a/x",
    "resources/subscribe": "file:///a/x",
}
OTHER_ITEM = {
    "tools/call": "u",
    "prompts/get": "q",
    "resources/read": "file:///b/x",
    "resources/subscribe": "file:///b/x",
}


def policy(**scopes: Rule) -> Policy:
    return Policy("test", rules={scope: (rule,) for scope, rule in scopes.items()})


ACCESS_ONLY = policy(only=Rule("s", frozenset({"initialize"}), frozenset()))


def listing(method: str) -> Policy:
    return policy(
        listed=Rule("s", frozenset({method}), frozenset({"t"}), frozenset({"p"}), ("file:///a/*",)),
    )


@pytest.mark.parametrize("method", sorted(METHODS))
def test_a_caller_with_access_only_may_send_exactly_the_access_methods(method: str) -> None:
    allowed = ACCESS_ONLY.allows({"only"}, "s", method, ITEM.get(method))
    assert allowed == (METHODS[method] is Right.ACCESS), METHODS[method]
    assert not ACCESS_ONLY.allows({"only"}, "other", method, ITEM.get(method)), "only on its own server"


@pytest.mark.parametrize(
    "method", sorted(method for method, right in METHODS.items() if right is not Right.SOME_TOOL)
)
def test_a_rule_listing_the_method_and_its_item_allows_it(method: str) -> None:
    rules = listing(method)
    assert rules.allows({"listed"}, "s", method, ITEM.get(method))
    if method in ITEM:
        assert not rules.allows({"listed"}, "s", method, OTHER_ITEM[method]), "another item is not listed"


@pytest.mark.parametrize(
    "method", sorted(method for method, right in METHODS.items() if right is Right.SOME_TOOL)
)
def test_tasks_need_the_right_to_call_some_tool(method: str) -> None:
    assert listing("tools/call").allows({"listed"}, "s", method, None)
    assert not listing("tools/list").allows({"listed"}, "s", method, None)


@pytest.mark.parametrize(
    "method", ["notifications/anything", "custom/method", "rpc.discover", "$/cancelRequest"]
)
def test_methods_outside_the_schemas_need_a_rule_naming_them(method: str) -> None:
    assert right_for(method) is Right.METHOD
    assert not ACCESS_ONLY.allows({"only"}, "s", method, None)
    assert listing(method).allows({"listed"}, "s", method, None)


def test_responses_and_bodyless_requests_are_access() -> None:
    assert right_for(None) is Right.ACCESS and ACCESS_ONLY.allows({"only"}, "s", None, None)


def test_rules_that_name_no_prompts_or_resources_limit_none() -> None:
    old_style = policy(r=Rule("s", frozenset({"prompts/get", "resources/read"}), frozenset()))
    assert old_style.allows({"r"}, "s", "prompts/get", "anything")
    assert old_style.allows({"r"}, "s", "resources/read", "file:///anything")
    assert old_style.allowed_prompts({"r"}, "s") == ("*",) and old_style.allowed_resources({"r"}, "s") == (
        "*",
    )


def test_every_item_method_of_the_parser_has_an_item_right() -> None:
    assert {method: right_for(method) for method in ITEMS} == {
        "tools/call": Right.TOOL,
        "prompts/get": Right.PROMPT,
        "resources/read": Right.RESOURCE,
        "resources/subscribe": Right.RESOURCE,
    }


def test_the_readme_table_is_this_table() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("### Methods and the rights they need")
    section = readme[start : readme.index("\n## ", start)]
    rows = dict(re.findall(r"^\| `([^`]+)` \| ([a-z ]+) \|", section, re.MULTILINE))
    words = {
        Right.ACCESS: "access",
        Right.METHOD: "method",
        Right.TOOL: "method and tool",
        Right.PROMPT: "method and prompt",
        Right.RESOURCE: "method and resource",
        Right.SOME_TOOL: "some tool",
    }
    assert rows == {method: words[right] for method, right in METHODS.items()}
