"""Generate gateway/openapi.json, the OpenAPI 3 document of the REST API, from protos/.

python tools/gen_openapi.py           # write gateway/openapi.json (`make openapi`)
python tools/gen_openapi.py --check   # fail if it differs from the protos (`make openapi-check`)

The document says what Envoy's gRPC-JSON transcoder really does with each RPC's
`google.api.http` rule: proto3 JSON names (lowerCamelCase), int64 as strings, Timestamps as
RFC 3339 strings, enums by name; fields bound by the path are path parameters, a `body: "*"`
rule takes every other field from the JSON body, and on a rule without a body every other
field is a query parameter (a nested message's fields as dotted names). The descriptions are
the protos' comments, read from a descriptor set built with source info. RPCs the gateway
answers itself (a `direct_response` route on their gRPC path, like InvalidateAggregates) are
not part of the REST API and are left out.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the dev tools
from gen_protos import contract_files, run_protoc
from google.api import annotations_pb2, field_behavior_pb2
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as Field

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "gateway" / "openapi.json"
PACKAGE = "tagpulse.v1"
MUTATING = ("post", "put", "patch", "delete")

INT32 = {"type": "integer", "format": "int32", "minimum": -(2**31), "maximum": 2**31 - 1}
UINT32 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2**32 - 1}
# proto3 JSON prints 64-bit integers as strings (JavaScript numbers lose precision past 2^53).
INT64 = {"type": "string", "format": "int64", "pattern": "^-?[0-9]+$"}
UINT64 = {"type": "string", "format": "uint64", "pattern": "^[0-9]+$"}
SCALARS: dict[int, dict[str, Any]] = {
    Field.TYPE_STRING: {"type": "string"},
    Field.TYPE_BOOL: {"type": "boolean"},
    Field.TYPE_BYTES: {"type": "string", "format": "byte"},
    Field.TYPE_DOUBLE: {"type": "number", "format": "double"},
    Field.TYPE_FLOAT: {"type": "number", "format": "float"},
    Field.TYPE_INT32: INT32,
    Field.TYPE_SINT32: INT32,
    Field.TYPE_SFIXED32: INT32,
    Field.TYPE_UINT32: UINT32,
    Field.TYPE_FIXED32: UINT32,
    Field.TYPE_INT64: INT64,
    Field.TYPE_SINT64: INT64,
    Field.TYPE_SFIXED64: INT64,
    Field.TYPE_UINT64: UINT64,
    Field.TYPE_FIXED64: UINT64,
}
# Well-known types whose proto3 JSON form is a single value, not an object.
WELL_KNOWN: dict[str, dict[str, Any]] = {
    ".google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, UTC with a Z or with an offset: 2024-05-01T12:00:00Z.",
    },
    ".google.protobuf.Duration": {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?s$"},
}

# The JSON body of every error: google.rpc.Status as the transcoder prints it (Envoy's own
# replies, in gateway/envoy.yaml.template's local_reply_config, take the same shape).
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "An error: the gRPC status code, a message for people, and for INVALID_ARGUMENT a "
        "google.rpc.BadRequest whose fieldViolations name every bad field."
    ),
    "required": ["code", "message", "details"],
    "properties": {
        "code": {
            "type": "integer",
            "format": "int32",
            "description": "The google.rpc.Code: 3 INVALID_ARGUMENT, 5 NOT_FOUND, 8 RESOURCE_EXHAUSTED, "
            "9 FAILED_PRECONDITION, 14 UNAVAILABLE, 16 UNAUTHENTICATED.",
        },
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["@type"],
                "properties": {
                    "@type": {
                        "type": "string",
                        "example": "type.googleapis.com/google.rpc.BadRequest",
                    },
                    "fieldViolations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "field": {"type": "string"},
                                "description": {"type": "string"},
                                "reason": {"type": "string"},
                            },
                        },
                    },
                },
            },
        },
    },
}
ERRORS = {
    "400": "The request is invalid (INVALID_ARGUMENT, FAILED_PRECONDITION) or a parameter is not "
    "of its type.",
    "401": "No API token, or a wrong one (UNAUTHENTICATED).",
    "404": "No such resource (NOT_FOUND).",
    "429": "Envoy's rate limit.",
    "503": "A service or its database is unavailable (UNAVAILABLE).",
}


def descriptor_set() -> descriptor_pb2.FileDescriptorSet:
    """The contract's descriptors with their comments (gateway/tagpulse.pb has none)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "with-source-info.pb"
        run_protoc(
            ["--include_imports", "--include_source_info", f"--descriptor_set_out={out}", *contract_files()]
        )
        return descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())


def answered_by_gateway() -> set[str]:
    """gRPC paths that Envoy answers itself instead of routing them (not part of the REST API)."""
    spec = importlib.util.spec_from_file_location("gateway_render", ROOT / "gateway" / "render.py")
    assert spec is not None
    assert spec.loader is not None
    render = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(render)
    config = yaml.safe_load(render.render())
    manager = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return {
        route["match"]["path"]
        for host in manager["route_config"]["virtual_hosts"]
        for route in host["routes"]
        if "direct_response" in route and "path" in route["match"]
    }


def _comment(text: str) -> str:
    """A proto comment as a description: lines joined into paragraphs."""
    paragraphs = [
        " ".join(line.strip() for line in block.splitlines()) for block in text.strip().split("\n\n")
    ]
    return "\n\n".join(p for p in paragraphs if p)


class Contract:
    """The messages, enums and comments of the descriptor set, by full name."""

    def __init__(self, files: descriptor_pb2.FileDescriptorSet) -> None:
        self.messages: dict[str, descriptor_pb2.DescriptorProto] = {}
        self.enums: dict[str, descriptor_pb2.EnumDescriptorProto] = {}
        self.comments: dict[str, str] = {}
        self.files = list(files.file)
        for file in self.files:
            paths = {tuple(loc.path): loc.leading_comments for loc in file.source_code_info.location}
            for index, message in enumerate(file.message_type):
                self._add_message(f".{file.package}", message, (4, index), paths)
            for index, enum in enumerate(file.enum_type):
                self._add_enum(f".{file.package}", enum, (5, index), paths)
            for s_index, service in enumerate(file.service):
                name = f".{file.package}.{service.name}"
                self._note(name, paths.get((6, s_index)))
                for m_index, method in enumerate(service.method):
                    self._note(f"{name}.{method.name}", paths.get((6, s_index, 2, m_index)))

    def _note(self, name: str, comment: str | None) -> None:
        if comment and comment.strip():
            self.comments[name] = _comment(comment)

    def _add_message(
        self,
        scope: str,
        message: descriptor_pb2.DescriptorProto,
        path: tuple[int, ...],
        paths: dict[tuple[int, ...], str],
    ) -> None:
        name = f"{scope}.{message.name}"
        self.messages[name] = message
        self._note(name, paths.get(path))
        for index, field in enumerate(message.field):
            self._note(f"{name}.{field.name}", paths.get((*path, 2, index)))
        for index, nested in enumerate(message.nested_type):
            self._add_message(name, nested, (*path, 3, index), paths)
        for index, enum in enumerate(message.enum_type):
            self._add_enum(name, enum, (*path, 4, index), paths)

    def _add_enum(
        self,
        scope: str,
        enum: descriptor_pb2.EnumDescriptorProto,
        path: tuple[int, ...],
        paths: dict[tuple[int, ...], str],
    ) -> None:
        name = f"{scope}.{enum.name}"
        self.enums[name] = enum
        self._note(name, paths.get(path))
        for index, value in enumerate(enum.value):
            self._note(f"{name}.{value.name}", paths.get((*path, 2, index)))

    def services(self) -> Iterator[tuple[str, descriptor_pb2.ServiceDescriptorProto]]:
        for file in self.files:
            if file.package == PACKAGE:
                for service in file.service:
                    yield f".{file.package}.{service.name}", service


def component_name(full_name: str) -> str:
    """`.tagpulse.v1.CollectionRun.State` → `CollectionRun.State`."""
    return full_name.removeprefix(f".{PACKAGE}.")


class Builder:
    """The OpenAPI document of the contract's http rules."""

    def __init__(self, contract: Contract, skipped: set[str]) -> None:
        self.contract = contract
        self.skipped = skipped
        self.schemas: dict[str, Any] = {}
        self.request_side: set[str] = set()

    # --- schemas ---------------------------------------------------------------------------

    def enum_schema(self, full_name: str) -> dict[str, Any]:
        enum = self.contract.enums[full_name]
        schema: dict[str, Any] = {"type": "string", "enum": [value.name for value in enum.value]}
        lines = [
            f"- `{value.name}`: {self.contract.comments[f'{full_name}.{value.name}']}"
            for value in enum.value
            if f"{full_name}.{value.name}" in self.contract.comments
        ]
        text = "\n".join(filter(None, [self.contract.comments.get(full_name, ""), "\n".join(lines)]))
        if text:
            schema["description"] = text
        return schema

    def value_schema(self, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        """The schema of one value of the field (an item, for a repeated field)."""
        if field.type == Field.TYPE_ENUM:
            return self.enum_schema(field.type_name)
        if field.type == Field.TYPE_MESSAGE:
            if field.type_name in WELL_KNOWN:
                return dict(WELL_KNOWN[field.type_name])
            self.message_schema(field.type_name)
            return {"$ref": f"#/components/schemas/{component_name(field.type_name)}"}
        return dict(SCALARS[field.type])

    def field_schema(self, owner: str, field: descriptor_pb2.FieldDescriptorProto) -> dict[str, Any]:
        value = self.value_schema(field)
        schema: dict[str, Any] = (
            {"type": "array", "items": value} if field.label == Field.LABEL_REPEATED else value
        )
        comment = self.contract.comments.get(f"{owner}.{field.name}")
        if comment:
            if "$ref" in schema:  # OpenAPI 3.0 ignores a $ref's siblings
                schema = {"allOf": [schema]}
            schema["description"] = "\n\n".join(filter(None, [comment, schema.get("description")]))
        return schema

    def message_schema(self, full_name: str) -> None:
        name = component_name(full_name)
        if name in self.schemas:
            return
        message = self.contract.messages[full_name]
        self.schemas[name] = {}  # claimed before the fields, for recursive messages
        schema: dict[str, Any] = {"type": "object", "properties": {}}
        if full_name in self.contract.comments:
            schema["description"] = self.contract.comments[full_name]
        for field in message.field:
            schema["properties"][field.json_name] = self.field_schema(full_name, field)
        # (google.api.field_behavior) = REQUIRED: the contract's own "must be set".
        required = [
            f.json_name
            for f in message.field
            if field_behavior_pb2.REQUIRED in f.options.Extensions[field_behavior_pb2.field_behavior]
        ]
        if required:
            schema["required"] = required
        self.schemas[name] = schema

    def mark_required(self) -> None:
        """Responses print every field without presence (Envoy's always_print_primitive_fields):
        scalars, enums and lists are always there, messages and `optional` scalars only when set.
        Messages that requests carry too are left without `required`, since a client may leave
        those fields out."""
        for full_name, message in self.contract.messages.items():
            name = component_name(full_name)
            if name not in self.schemas or full_name in self.request_side:
                continue
            # A message (a Timestamp too) and an `optional` scalar are printed only when set.
            required = [
                f.json_name
                for f in message.field
                if f.label == Field.LABEL_REPEATED or (f.type != Field.TYPE_MESSAGE and not f.proto3_optional)
            ]
            if required:
                self.schemas[name]["required"] = required

    def note_request_side(self, full_name: str) -> None:
        if full_name in self.request_side or full_name in WELL_KNOWN:
            return
        self.request_side.add(full_name)
        for field in self.contract.messages[full_name].field:
            if field.type == Field.TYPE_MESSAGE:
                self.note_request_side(field.type_name)

    # --- operations ------------------------------------------------------------------------

    def query_parameters(
        self, owner: str, message: descriptor_pb2.DescriptorProto, bound: set[str], prefix: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Every field not bound by the path, as the transcoder reads it from the query string."""
        for field in message.field:
            path = f"{prefix}{field.name}"
            if path in bound:
                continue
            is_message = field.type == Field.TYPE_MESSAGE and field.type_name not in WELL_KNOWN
            if is_message:
                if field.label != Field.LABEL_REPEATED:  # lists of messages have no query form
                    nested = self.contract.messages[field.type_name]
                    yield from self.query_parameters(field.type_name, nested, bound, f"{path}.")
                continue
            name = _camel_path(path)
            schema = self.field_schema(owner, field)
            parameter: dict[str, Any] = {"name": name, "in": "query", "required": False}
            if "description" in schema:
                parameter["description"] = schema.pop("description")
            if field.label == Field.LABEL_REPEATED:
                parameter.update(style="form", explode=True)
            parameter["schema"] = schema
            yield parameter

    def operation(
        self, service: str, method: descriptor_pb2.MethodDescriptorProto
    ) -> tuple[str, str, dict[str, Any]] | None:
        rule = method.options.Extensions[annotations_pb2.http]
        verb = rule.WhichOneof("pattern")
        if verb is None or verb == "custom" or f"/{service[1:]}/{method.name}" in self.skipped:
            return None
        template = getattr(rule, verb)
        request = self.contract.messages[method.input_type]
        bound = set(re.findall(r"\{([^}=]+)", template))
        path = re.sub(r"\{([^}=]+)(=[^}]*)?\}", lambda m: "{" + _camel_path(m[1]) + "}", template)
        comment = self.contract.comments.get(f"{service}.{method.name}", method.name)
        operation: dict[str, Any] = {
            "operationId": method.name,
            "tags": [component_name(service)],
            "summary": _first_sentence(comment),
            "description": comment,
            "parameters": [],
        }
        for name in sorted(bound, key=template.index):
            field = _field_at(request, self.contract, name)
            schema = {**self.field_schema(method.input_type, field), "minLength": 1}
            parameter: dict[str, Any] = {"name": _camel_path(name), "in": "path", "required": True}
            if "description" in schema:
                parameter["description"] = schema.pop("description")
            parameter["schema"] = schema
            operation["parameters"].append(parameter)
        if rule.body == "*":
            self.note_request_side(method.input_type)
            self.message_schema(method.input_type)
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{component_name(method.input_type)}"}
                    }
                },
            }
        elif rule.body:
            sys.exit(f'{method.name}: only `body: "*"` is mapped (found body: {rule.body!r})')
        else:
            operation["parameters"].extend(self.query_parameters(method.input_type, request, bound))
        if not operation["parameters"]:
            del operation["parameters"]
        self.message_schema(method.output_type)
        responses: dict[str, Any] = {
            "200": {
                "description": "OK",
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{component_name(method.output_type)}"}
                    }
                },
            }
        }
        codes = ["400", "401", "404", "429", "503"] if verb in MUTATING else ["400", "404", "429", "503"]
        for code in codes:
            responses[code] = {"$ref": f"#/components/responses/Error{code}"}
        operation["responses"] = responses
        if verb in MUTATING:
            operation["security"] = [{"bearerAuth": []}]
        return path, verb, operation

    def document(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        tags = []
        for service_name, service in self.contract.services():
            tags.append(
                {
                    "name": component_name(service_name),
                    "description": self.contract.comments.get(service_name, ""),
                }
            )
            for method in service.method:
                found = self.operation(service_name, method)
                if found:
                    path, verb, operation = found
                    paths.setdefault(path, {})[verb] = operation
        self.mark_required()
        self.schemas["Error"] = ERROR_SCHEMA
        return {
            "openapi": "3.0.3",
            "info": {
                "title": "tagpulse REST API",
                "version": "v1",
                "description": (
                    "Generated from protos/ by tools/gen_openapi.py (`make openapi`): do not edit. "
                    "Envoy transcodes these REST/JSON calls to the gRPC services. Reads are open; "
                    "POST, PUT, PATCH and DELETE need `Authorization: Bearer <TAGPULSE_API_TOKEN>`. "
                    "See docs/api.md."
                ),
            },
            "servers": [{"url": "http://127.0.0.1:8080", "description": "the local stack (`make run`)"}],
            "tags": tags,
            "paths": dict(sorted(paths.items())),
            "components": {
                "schemas": dict(sorted(self.schemas.items())),
                "responses": {
                    f"Error{code}": {
                        "description": text,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    }
                    for code, text in ERRORS.items()
                },
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "TAGPULSE_API_TOKEN: required by every POST, PUT, PATCH and DELETE.",
                    }
                },
            },
        }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _field_at(
    message: descriptor_pb2.DescriptorProto, contract: Contract, dotted: str
) -> descriptor_pb2.FieldDescriptorProto:
    *parents, last = dotted.split(".")
    for part in parents:
        (field,) = [f for f in message.field if f.name == part]
        message = contract.messages[field.type_name]
    (found,) = [f for f in message.field if f.name == last]
    return found


def _camel_path(dotted: str) -> str:
    return ".".join(_camel(part) for part in dotted.split("."))


def _first_sentence(text: str) -> str:
    first = re.split(r"(?<=[.;])\s", text.split("\n\n")[0], maxsplit=1)[0]
    return first.rstrip(".;")


def render() -> str:
    """The document as committed: sorted keys would scramble the order of fields, so none."""
    builder = Builder(Contract(descriptor_set()), answered_by_gateway())
    return json.dumps(builder.document(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    fresh = render()
    relative = DOCUMENT.relative_to(ROOT)
    if parser.parse_args().check:
        if not DOCUMENT.exists() or DOCUMENT.read_text() != fresh:
            print(f"{relative} is out of date with protos/ (run `make openapi` and commit it)")
            return 1
        print(f"{relative} matches protos/")
        return 0
    DOCUMENT.write_text(fresh)
    print(f"wrote {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
