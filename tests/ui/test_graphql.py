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
