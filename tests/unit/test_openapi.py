"""gateway/openapi.json: current with the protos, a valid OpenAPI 3 document, faithful to the
transcoder's mapping of every routed RPC, and importable into Postman."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2
from openapi_spec_validator import validate

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "gateway" / "openapi.json"
DESCRIPTOR_SET = ROOT / "gateway" / "tagpulse.pb"
NODE_BIN = ROOT / "node_modules" / ".bin"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return loaded


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"{verb.upper()} {path}": op for path, item in document["paths"].items() for verb, op in item.items()
    }


def contract_routes() -> dict[str, str]:
    """ "VERB /path" → method name, for every RPC with an http rule, from Envoy's descriptor set."""
    routes = {}
    for file in descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes()).file:
        if not file.package.startswith("tagpulse."):
            continue
        for service in file.service:
            for method in service.method:
                rule = method.options.Extensions[annotations_pb2.http]
                verb = rule.WhichOneof("pattern")
                if verb:
                    routes[f"{verb.upper()} {getattr(rule, verb)}"] = method.name
    return routes


def test_the_committed_document_is_generated_from_the_protos() -> None:
    result = subprocess.run(
        [sys.executable, "tools/gen_openapi.py", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_it_is_a_valid_openapi_3_document(document: dict[str, Any]) -> None:
    validate(document)
    assert document["openapi"].startswith("3.")


def test_every_routed_rpc_is_an_operation_and_nothing_else(document: dict[str, Any]) -> None:
    expected = {route: name for route, name in contract_routes().items() if name != "InvalidateAggregates"}
    found = {route: op["operationId"] for route, op in operations(document).items()}
    assert found == expected


def test_mutating_operations_need_the_bearer_token_and_reads_do_not(document: dict[str, Any]) -> None:
    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "TAGPULSE_API_TOKEN: required by every POST, PUT, PATCH and DELETE.",
    }
    for route, op in operations(document).items():
        mutating = route.split()[0] in ("POST", "PUT", "PATCH", "DELETE")
        assert op.get("security") == ([{"bearerAuth": []}] if mutating else None), route
        assert ("401" in op["responses"]) == mutating, route


def test_parameters_follow_the_transcoder(document: dict[str, Any]) -> None:
    ops = operations(document)
    list_posts = {p["name"]: p for p in ops["GET /v1/posts"]["parameters"]}
    assert list(list_posts) == [
        "hashtag", "language", "authorId", "countryCode", "startTime", "endTime", "pageSize", "pageToken",
    ]  # fmt: skip
    assert all(p["in"] == "query" for p in list_posts.values())
    assert list_posts["startTime"]["schema"]["format"] == "date-time"
    assert list_posts["pageSize"]["schema"]["type"] == "integer"
    assert list_posts["pageSize"]["description"] == "1–1000; 0 means the default, 50."
    get_post = {p["name"]: p for p in ops["GET /v1/posts/{id}"]["parameters"]}
    assert get_post["id"]["in"] == "path"
    assert get_post["id"]["required"] is True
    assert get_post["source"]["in"] == "query"
    mode = {p["name"]: p for p in ops["GET /v1/posts:countByHour"]["parameters"]}["mode"]
    assert mode["schema"]["enum"] == ["MODE_UNSPECIFIED", "HOUR_OF_DAY", "TIMELINE"]
    # body: "*" takes every field from the body: no query parameters.
    start = ops["POST /v1/collections"]
    assert "parameters" not in start
    body = start["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/StartCollectionRequest"}
    delete = ops["DELETE /v1/streams/{id}"]
    assert [p["name"] for p in delete["parameters"]] == ["id"]


def test_schemas_use_the_proto3_json_mapping(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    run = schemas["CollectionRun"]["properties"]
    assert run["maxPostsPerHashtag"]["type"] == "integer"
    assert run["startTime"]["format"] == "date-time"
    assert run["hashtags"] == {"type": "array", "items": {"type": "string"}}
    assert run["state"]["enum"] == [
        "STATE_UNSPECIFIED",
        "RUNNING",
        "SUCCEEDED",
        "PARTIALLY_SUCCEEDED",
        "FAILED",
        "STOPPED_BY_BUDGET",
    ]
    figures = schemas["CollectionFigures"]["properties"]
    assert figures["postsFetched"]["type"] == "string"  # int64
    assert figures["postsFetched"]["format"] == "int64"
    # Comments become descriptions, for messages, fields and enum values.
    assert schemas["Post"]["description"].startswith("A collected post.")
    assert figures["postsNew"]["description"] == "Posts stored for the first time."
    assert "`PARTIALLY_SUCCEEDED`: Some hashtags failed" in run["state"]["description"]
    # Responses print every field without presence; messages only when set.
    assert "id" in schemas["CollectionRun"]["required"]
    assert "startTime" not in schemas["CollectionRun"]["required"]


def test_errors_have_the_gateway_error_shape(document: dict[str, Any]) -> None:
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "message", "details"]
    violation = error["properties"]["details"]["items"]["properties"]["fieldViolations"]["items"]
    assert set(violation["properties"]) == {"field", "description", "reason"}
    for route, op in operations(document).items():
        assert {"200", "400", "404", "429", "503"} <= set(op["responses"]), route


def test_postman_imports_every_operation(tmp_path: Path, document: dict[str, Any]) -> None:
    out = tmp_path / "collection.json"
    result = subprocess.run(
        [
            str(NODE_BIN / "openapi2postmanv2"),
            "-s",
            str(DOCUMENT),
            "-o",
            str(out),
            "-O",
            "folderStrategy=Tags",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    collection = json.loads(out.read_text())

    def requests(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        found = []
        for item in items:
            found += requests(item["item"]) if "item" in item else [item["request"]]
        return found

    def template(segment: str) -> str:
        """Postman's `:name` path variable as OpenAPI's `{name}`."""
        return "{" + segment[1:] + "}" if segment.startswith(":") else segment

    imported = {
        (request["method"], "/" + "/".join(template(segment) for segment in request["url"]["path"]))
        for request in requests(collection["item"])
    }
    assert imported == {(route.split()[0], route.split()[1]) for route in operations(document)}
    assert len(requests(collection["item"])) == len(operations(document))
    bearer = {
        (r["method"], "/" + "/".join(r["url"]["path"]))
        for r in requests(collection["item"])
        if (r.get("auth") or {}).get("type") == "bearer"
    }
    assert {method for method, _ in bearer} == {"POST", "DELETE"}
