"""``liftoff convert``: import lines from a spreadsheet's CSV export or ServiceNow demand records.

A mapping says which source column fills which field of an import line (dotted for nested fields:
``infrastructure.deployment_target``), how source values translate (``values``: ``{"stage": {"Pilot":
"poc"}}``), what every line gets unless a column gives it (``defaults``), and which column is the record's
reference in its system (``ref``: it becomes ``external_refs``, which makes re-importing idempotent). The
converter maps; it does not judge: ``liftoff import --dry-run`` says what is wrong with each line, by
number (line N is the Nth record).
"""

from __future__ import annotations

import copy
import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

NUMBERS = {"budget_usd", "infrastructure.gpu_count", "infrastructure.storage_tb", "infrastructure.expected_peak_qps"}
BOOLEANS = {"infrastructure.containerized"}
LISTS = {"infrastructure.integrations"}
_SERVICENOW_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2})?)?$")


@dataclass(frozen=True)
class Mapping:
    """How records of one source become import lines."""

    system: str
    ref: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    #: Source fields whose display value is wanted when a record carries both (ServiceNow ``display_value=all``).
    display: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mapping:
        """A mapping from its YAML form (ValueError naming what is wrong)."""
        unknown = set(data) - {"system", "ref", "fields", "values", "defaults", "display"}
        if unknown:
            msg = f"unknown mapping keys: {sorted(unknown)}"
            raise ValueError(msg)
        if not isinstance(data.get("system"), str) or not data["system"]:
            msg = "the mapping needs `system`: the name of the source, e.g. spreadsheet or servicenow"
            raise ValueError(msg)
        for key in ("fields", "values", "defaults"):
            if not isinstance(data.get(key, {}), dict):
                msg = f"`{key}` must be a mapping"
                raise ValueError(msg)  # noqa: TRY004 - a bad file, reported as such
        values = {
            str(k): {str(s).casefold(): t for s, t in (v or {}).items()} for k, v in data.get("values", {}).items()
        }
        return cls(
            system=data["system"],
            ref=data.get("ref"),
            fields={str(k): str(v) for k, v in data.get("fields", {}).items()},
            values=values,
            defaults=dict(data.get("defaults", {})),
            display=[str(d) for d in data.get("display", [])],
        )

    @classmethod
    def load(cls, path: Path) -> Mapping:
        """A mapping from a YAML file."""
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            msg = f"{path}: a mapping file is a YAML mapping"
            raise ValueError(msg)  # noqa: TRY004 - a bad file, reported as such
        return cls.from_dict(data)


#: ServiceNow Demand Management's ``dmn_demand`` as most instances keep it. Dates are the Table API's raw
#: values (UTC), choice fields their display values, references dot-walked to a name or an email: fetch
#: with ``sysparm_display_value=all`` (``liftoff convert servicenow --instance`` does). Print it with
#: ``liftoff convert servicenow --print-mapping`` and adjust it to your instance.
SERVICENOW_DMN_DEMAND: dict[str, Any] = {
    "system": "servicenow",
    "ref": "number",
    "display": ["state", "risk"],
    "fields": {
        "title": "short_description",
        "summary": "description",
        "team": "assignment_group.name",
        "business_unit": "business_unit.name",
        "sponsor": "demand_manager.email",
        "submitter": "submitter.email",
        "risk_tier": "risk",
        "budget_usd": "total_cost",
        "stage": "state",
        "submitted_at": "sys_created_on",
        "stage_entered_at": "sys_updated_on",
    },
    "values": {
        "stage": {
            "Draft": "proposed",
            "Submitted": "proposed",
            "Screening": "proposed",
            "Qualified": "poc",
            "Approved": "infra_review",
            "Completed": "production",
        },
        "risk_tier": {"Low": "minimal", "Moderate": "limited", "Medium": "limited", "High": "high"},
    },
    "defaults": {
        "risk_tier": "limited",
        "data_classification": "internal",
        "procurement": "it_plan",
        "infrastructure": {"deployment_target": "on_prem", "containerized": True},
        "poc_success_criteria": [{"metric": "business_value_confirmed", "operator": ">=", "target": 1}],
    },
}


def servicenow_fields(mapping: Mapping) -> list[str]:
    """The source fields a mapping reads (for ``sysparm_fields``)."""
    wanted = [*mapping.fields.values(), *([mapping.ref] if mapping.ref else [])]
    return sorted(set(wanted))


def _cell(record: dict[str, Any], column: str, mapping: Mapping) -> str:
    raw = record.get(column)
    if isinstance(raw, dict):  # display_value=all: {"value": ..., "display_value": ...}
        raw = raw.get("display_value") if column in mapping.display else raw.get("value")
    return "" if raw is None else str(raw).strip()


def _time(text: str) -> str:
    if _SERVICENOW_TIME.match(text):  # the Table API's and spreadsheets' plain form: UTC
        parts = text.split(" ")
        clock = parts[1] if len(parts) > 1 else "00:00:00"
        clock = clock if clock.count(":") == 2 else f"{clock}:00"
        return datetime.fromisoformat(f"{parts[0]}T{clock}").replace(tzinfo=UTC).isoformat()
    return text  # ISO 8601 already, or wrong: the import says which


def _typed(target: str, text: str) -> Any:  # noqa: ANN401 - JSON of whatever type the field has
    if target in NUMBERS:
        try:
            return float(text.replace(",", "")) if "." in text or "e" in text.lower() else int(text.replace(",", ""))
        except ValueError:
            return text
    if target in BOOLEANS:
        return text.casefold() in {"true", "yes", "y", "1"}
    if target in LISTS:
        return [part.strip() for part in re.split(r"[;,]", text) if part.strip()]
    if target in {"submitted_at", "stage_entered_at"} or target.startswith("stages_entered."):
        return _time(text)
    return text


def _put(line: dict[str, Any], target: str, value: Any) -> None:  # noqa: ANN401
    *path, last = target.split(".")
    into = line
    for key in path:
        into = into.setdefault(key, {})
    into[last] = value


def convert_record(record: dict[str, Any], mapping: Mapping) -> dict[str, Any]:
    """One import line from one source record."""
    line: dict[str, Any] = copy.deepcopy(mapping.defaults)
    for target, column in mapping.fields.items():
        text = _cell(record, column, mapping)
        if not text:
            continue
        translate = mapping.values.get(target)
        value: Any = translate.get(text.casefold(), text) if translate is not None else _typed(target, text)
        _put(line, target, value)
    if mapping.ref:
        ref = _cell(record, mapping.ref, mapping)
        if ref:
            line["external_refs"] = [{"system": mapping.system, "ref": ref}]
    return line


def csv_records(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a CSV file as column → text (UTF-8, a byte-order mark allowed, as spreadsheets save it)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield from csv.DictReader(handle)


def servicenow_records(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a saved Table API answer (``{"result": [...]}``) or a JSON list of records."""
    data = json.loads(path.read_text(encoding="utf-8"))
    records = data.get("result", []) if isinstance(data, dict) else data
    if not isinstance(records, list):
        msg = f"{path}: expected a Table API answer {{'result': [...]}} or a list of records"
        raise ValueError(msg)  # noqa: TRY004 - a bad file, reported as such
    yield from (r for r in records if isinstance(r, dict))


def write_lines(records: Iterable[dict[str, Any]], mapping: Mapping, out: Any) -> int:  # noqa: ANN401 - a text file
    """Write one import line per record to ``out``; returns how many."""
    count = 0
    for record in records:
        out.write(json.dumps(convert_record(record, mapping), ensure_ascii=False) + "\n")
        count += 1
    return count
