"""A dashboard's SQL as Grafana would send it to PostgreSQL, for the insights dashboard's tests.

Grafana expands a PostgreSQL panel's query in two steps, and this does the same for the
variables and macros the dashboard uses (anything else fails loudly rather than pass untested):

1. In the browser, the template service replaces `$name` and `${name}` with the variable's
   selection, formatted by the SQL datasource's `interpolateVariable`
   (packages/grafana-sql/src/datasource/SqlDatasource.ts): a multi-value or include-All
   variable's values become quoted literals joined by commas (`'en','es'`, quotes doubled
   inside); a plain variable's value is inserted with its quotes doubled but unquoted. "All"
   with a custom all value inserts that value as written, unformatted (template_srv.ts: "skip
   formatting of custom all values"); without one, every option's value.
2. On the server, the macro engine (pkg/tsdb/grafana-postgresql-datasource/macros.go) replaces
   `$__timeFrom()` and `$__timeTo()` with the range's ends as quoted RFC 3339 UTC instants
   (Go's RFC3339Nano: fractional seconds without trailing zeros).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

ALL = "$__all"

# template_srv.ts's regex, for the forms used here: $name, ${name} and ${name:format}.
_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?::([^}]+))?\}")
# macros.go's regex: $__name(arguments).
_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^)]*)\)")


@dataclass(frozen=True)
class TimeRange:
    start: datetime
    end: datetime


def expand(
    sql: str,
    variables: Sequence[Mapping[str, Any]],
    selection: Mapping[str, str | Sequence[str]],
    options: Mapping[str, Sequence[str]],
    time_range: TimeRange,
) -> str:
    """`sql` with the dashboard's `variables` set to `selection` (a value, a list of values, or
    ALL), `options` being what each variable's own query offered; then the macros."""
    by_name = {variable["name"]: variable for variable in variables}

    def variable(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in by_name:
            return match.group(0)  # a macro, or not a variable: left for the next step
        if match.group(3):
            raise NotImplementedError(f"format :{match.group(3)} of ${{{name}}} is not expanded here")
        return _format(by_name[name], selection[name], options.get(name, ()))

    def macro(match: re.Match[str]) -> str:
        name, arguments = match.group(1), match.group(2).strip()
        if name in ("__timeFrom", "__timeTo") and not arguments:
            return f"'{_rfc3339_nano(time_range.start if name == '__timeFrom' else time_range.end)}'"
        raise NotImplementedError(f"macro ${name}({arguments}) is not expanded here")

    expanded = _MACRO.sub(macro, _VARIABLE.sub(variable, sql))
    if "$" in expanded:
        raise AssertionError(f"left unexpanded: {expanded}")
    return expanded


def _format(variable: Mapping[str, Any], selected: str | Sequence[str], options: Sequence[str]) -> str:
    if selected == ALL or (not isinstance(selected, str) and list(selected) == [ALL]):
        if not variable.get("includeAll"):
            raise AssertionError(f"{variable['name']} has no All option")
        if variable.get("allValue"):
            return str(variable["allValue"])
        return ",".join(_quote(value) for value in options)
    if isinstance(selected, str):
        listed = variable.get("multi") or variable.get("includeAll")
        return _quote(selected) if listed else selected.replace("'", "''")
    if not variable.get("multi"):
        raise AssertionError(f"{variable['name']} takes one value, not a list")
    return ",".join(_quote(value) for value in selected)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _rfc3339_nano(instant: datetime) -> str:
    instant = instant.astimezone(UTC)
    text = instant.strftime("%Y-%m-%dT%H:%M:%S")
    if instant.microsecond:
        text += f".{instant.microsecond:06d}".rstrip("0")
    return text + "Z"
