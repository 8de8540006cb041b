"""The webserver serves the asset graph of the code location over GraphQL."""

from __future__ import annotations

from typing import Any


def test_graphql_asset_graph_matches_the_definitions(webserver: Any, expected_asset_keys: list[str]) -> None:
    data = webserver.graphql("{ assetNodes { assetKey { path } groupName isPartitioned } }")
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert sorted(k for k in nodes if k in expected_asset_keys) == expected_asset_keys
    assert {"raw_transactions", "validated_transactions"} <= set(nodes)
    assert nodes["raw_transactions"]["groupName"] == "ingestion"
    assert nodes["validated_transactions"]["groupName"] == "validation"
    assert nodes["raw_transactions"]["isPartitioned"] is True


def test_the_code_location_is_named_and_loads_without_a_name_mismatch_warning(webserver: Any) -> None:
    data = webserver.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name } } } }")
    assert [e["name"] for e in data["workspaceOrError"]["locationEntries"]] == ["mlops_assets"]
    # The webserver's (and its code server's) output: before the location was named, each reload
    # logged "The code location name 'main' configured on this project does not match ...".
    assert "does not match the name" not in webserver.log_path.read_text(errors="replace")
