"""Dataset contracts: one YAML file per dataset, the single truth for every stage.

The services read a contract to parse and validate rows, the sink derives the raw table's DDL
from it, and dbt's sources are generated from it. ``load_contract`` validates the file and names
the offending line when something is wrong.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from batchpipe_common.contract_yaml import DuplicateKey, LineLoader, line_of, strip_lines

LINEAGE_COLUMNS = ("_source_row",)
"""Columns the producer adds to every row on the wire (format 2). The raw table also has
``_batch_id``, which the sink's COPY fills from the chunk's batch (``ddl.BATCH_ID_DEFAULT``),
and ``_loaded_at`` (its default)."""
BATCH_ID_COLUMN = "_batch_id"
"""In every row of a format-1 chunk (such chunks still load: the sink copies the column)."""

_SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")
SIMPLE_TYPES = (
    "text",
    "integer",
    "bigint",
    "double",
    "boolean",
    "date",
    "timestamp",
    "timestamptz",
)
_PG_TYPES = {
    "text": "text",
    "integer": "integer",
    "bigint": "bigint",
    "double": "double precision",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "timestamp without time zone",
    "timestamptz": "timestamp with time zone",
}


EPOCH_FORMATS = ("epoch_seconds", "epoch_millis")
"""``format`` values for date/time columns that hold a count since 1970-01-01T00:00:00Z."""
_TIME_KINDS = ("date", "timestamp", "timestamptz")
_SAMPLE_MOMENT = datetime(2001, 12, 23, 14, 5, 6)


def _check_time_format(value: str) -> str:
    """A strftime-style format that can read back what it writes, or an epoch format."""
    if value in EPOCH_FORMATS:
        return value
    if "%" not in value:
        raise ValueError(
            f"format {value!r} has no %-directive; use strftime codes such as %d/%m/%Y"
            f" or one of {', '.join(EPOCH_FORMATS)}"
        )
    try:
        datetime.strptime(_SAMPLE_MOMENT.strftime(value), value)
    except ValueError as exc:
        raise ValueError(f"format {value!r} cannot parse what it formats: {exc}") from None
    return value


class ContractError(ValueError):
    """A contract file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class ColumnType:
    """A contract column type: one of ``SIMPLE_TYPES`` or ``numeric(p,s)``."""

    kind: str
    precision: int | None = None
    scale: int | None = None

    @classmethod
    def parse(cls, text: str) -> ColumnType:
        value = text.strip().lower()
        if value in SIMPLE_TYPES:
            return cls(value)
        match = _NUMERIC.match(value)
        if match:
            precision, scale = int(match.group(1)), int(match.group(2))
            if not 1 <= precision <= 1000 or scale > precision:
                raise ValueError(f"numeric({precision},{scale}) is not a valid precision/scale")
            return cls("numeric", precision, scale)
        raise ValueError(
            f"unknown type {text!r}; expected one of {', '.join(SIMPLE_TYPES)} or numeric(p,s)"
        )

    @property
    def pg_type(self) -> str:
        if self.kind == "numeric":
            return f"numeric({self.precision},{self.scale})"
        return _PG_TYPES[self.kind]

    def __str__(self) -> str:
        return f"numeric({self.precision},{self.scale})" if self.kind == "numeric" else self.kind


class Checks(BaseModel):
    """Value checks applied by the producer after typing a value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min: Decimal | None = None
    max: Decimal | None = None
    allowed: tuple[str, ...] | None = None
    regex: str | None = None

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"regex does not compile: {exc}") from exc
        return value


class Column(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1, description="column name in the source file")
    name: str = Field(description="column name in the warehouse (snake_case)")
    type: str
    nullable: bool = True
    description: str = ""
    checks: Checks = Checks()
    null_values: tuple[str, ...] | None = Field(
        default=None, description="strings read as NULL in this column (overrides the contract's)"
    )
    format: str | None = Field(
        default=None,
        description="date/timestamp/timestamptz: strftime-style format, epoch_seconds or "
        "epoch_millis (default ISO 8601)",
    )
    timezone: str | None = Field(
        default=None, description="timestamptz: zone of values without an offset (default UTC)"
    )
    true_values: tuple[str, ...] | None = Field(default=None, min_length=1)
    false_values: tuple[str, ...] | None = Field(default=None, min_length=1)
    decimal_separator: Literal[".", ","] | None = None

    @field_validator("format")
    @classmethod
    def _time_format(cls, value: str | None) -> str | None:
        return None if value is None else _check_time_format(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r} (an IANA name like Europe/Paris)"
                ) from None
        return value

    @field_validator("name")
    @classmethod
    def _snake_case(cls, value: str) -> str:
        if not _SNAKE.match(value) or value.startswith("_"):
            raise ValueError(f"column name {value!r} must be snake_case (a-z, 0-9, _)")
        return value

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        return str(ColumnType.parse(value))

    @model_validator(mode="after")
    def _checks_fit_type(self) -> Column:
        kind = self.column_type.kind
        if (self.checks.min is not None or self.checks.max is not None) and kind not in (
            "integer",
            "bigint",
            "numeric",
            "double",
        ):
            raise ValueError(f"checks.min/max need a numeric type, not {kind}")
        if (self.checks.allowed or self.checks.regex) and kind != "text":
            raise ValueError(f"checks.allowed/regex need type text, not {kind}")
        if self.format is not None and kind not in _TIME_KINDS:
            raise ValueError(f"format needs type date, timestamp or timestamptz, not {kind}")
        if self.timezone is not None and kind != "timestamptz":
            raise ValueError(f"timezone needs type timestamptz, not {kind}")
        if (self.true_values or self.false_values) and kind != "boolean":
            raise ValueError(f"true_values/false_values need type boolean, not {kind}")
        both = {v.strip().lower() for v in self.true_values or ()} & {
            v.strip().lower() for v in self.false_values or ()
        }
        if both:
            raise ValueError(f"{sorted(both)} cannot be both a true and a false value")
        if self.decimal_separator is not None and kind not in ("numeric", "double"):
            raise ValueError(f"decimal_separator needs type numeric or double, not {kind}")
        return self

    @property
    def column_type(self) -> ColumnType:
        return ColumnType.parse(self.type)


class Dialect(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str = Field(default='"', min_length=1, max_length=1)
    header: bool = True
    encoding: str = "utf-8"
    skip_rows: int = Field(default=0, ge=0, description="lines before the header, skipped")
    trim: bool = Field(default=False, description="strip spaces and tabs around values")
    escape: str | None = Field(default=None, min_length=1, max_length=1)
    comment: str | None = Field(
        default=None, min_length=1, max_length=1, description="lines starting with it are skipped"
    )

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError as exc:
            raise ValueError(f"unknown encoding {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _distinct_characters(self) -> Dialect:
        used = {"delimiter": self.delimiter, "quote": self.quote}
        used.update({k: v for k, v in (("escape", self.escape), ("comment", self.comment)) if v})
        chars = list(used.values())
        if len(set(chars)) != len(chars) or any(c in "\r\n" for c in chars):
            raise ValueError(
                "delimiter, quote, escape and comment must be distinct characters, none a line"
                f" break; got {used}"
            )
        return self


class Contract(BaseModel):
    """One dataset's contract. Field names mirror the YAML keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    version: int = Field(ge=1)
    description: str = ""
    format: Literal["csv", "jsonl", "parquet"]
    dialect: Dialect = Dialect()
    columns: tuple[Column, ...] = Field(min_length=1)
    null_values: tuple[str, ...] | None = Field(
        default=None,
        description='strings read as NULL (default: the empty CSV field; ["", "NA"] adds NA)',
    )
    decimal_separator: Literal[".", ","] = "."
    extra_columns: Literal["reject", "ignore"] = Field(
        default="reject", description="header columns the contract does not name: fail or drop"
    )
    natural_key: tuple[str, ...] | None = None
    raw_table: str
    topic: str
    freshness_warn_after_hours: int = Field(default=24, ge=1)
    freshness_error_after_hours: int = Field(default=72, ge=1)

    @field_validator("name")
    @classmethod
    def _dataset_name(cls, value: str) -> str:
        if not _SNAKE.match(value):
            raise ValueError(f"dataset name {value!r} must be snake_case")
        return value

    @field_validator("raw_table")
    @classmethod
    def _qualified(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) != 2 or not all(_IDENT.match(p) for p in parts):
            raise ValueError(f"raw_table {value!r} must be schema.table in lower case")
        return value

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        if not _TOPIC.match(value):
            raise ValueError(f"topic {value!r} is not a legal Kafka topic name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Contract:
        names = [c.name for c in self.columns]
        sources = [c.source for c in self.columns]
        for label, values in (("column name", names), ("source name", sources)):
            dupes = sorted({v for v in values if values.count(v) > 1})
            if dupes:
                raise ValueError(f"duplicate {label}(s): {', '.join(dupes)}")
        for key in self.natural_key or ():
            if key not in names:
                raise ValueError(f"natural_key column {key!r} is not a declared column")
        return self

    def null_values_of(self, column: Column, *, csv: bool) -> frozenset[str]:
        """The strings read as NULL in ``column``: its own list, the contract's, or the default
        (the empty field in CSV; nothing in JSON Lines and Parquet, which have real nulls)."""
        if column.null_values is not None:
            return frozenset(column.null_values)
        if self.null_values is not None:
            return frozenset(self.null_values)
        return frozenset({""}) if csv else frozenset()

    def decimal_separator_of(self, column: Column) -> str:
        return column.decimal_separator or self.decimal_separator

    @property
    def raw_schema(self) -> str:
        return self.raw_table.split(".")[0]

    @property
    def raw_table_name(self) -> str:
        return self.raw_table.split(".")[1]

    @property
    def dlq_topic(self) -> str:
        return f"{self.topic}.dlq"

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def wire_columns(self) -> tuple[str, ...]:
        """Column order of every chunk on the wire (and of the sink's COPY)."""
        return (*self.column_names, *LINEAGE_COLUMNS)


def parse_contract(text: str, origin: str = "<contract>") -> Contract:
    """Parse and validate contract YAML text; errors name ``origin`` and the line."""
    try:
        doc = yaml.load(text, Loader=LineLoader)  # noqa: S506 - a SafeLoader subclass
    except DuplicateKey as exc:
        raise ContractError(f"{origin}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "unknown line"
        raise ContractError(f"{origin}: {where}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ContractError(f"{origin}: line 1: a contract must be a YAML mapping")
    try:
        return Contract.model_validate(strip_lines(doc))
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(p for p in err["loc"] if p not in ("function-after",))
            line = line_of(doc, loc)
            field = ".".join(str(p) for p in loc) or "<contract>"
            problems.append(f"line {line}: {field}: {err['msg']}")
        raise ContractError(f"{origin}: " + "; ".join(problems)) from None


def load_contract(path: Path) -> Contract:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ContractError(f"{path}: cannot read contract: {exc.strerror}") from exc
    contract = parse_contract(text, origin=str(path))
    if contract.name != path.stem:
        raise ContractError(f"{path}: line 1: name {contract.name!r} must match the file name")
    return contract


def load_contracts(directory: Path) -> dict[str, Contract]:
    """Every ``*.yaml`` contract in ``directory``, by dataset name."""
    if not directory.is_dir():
        raise ContractError(f"contracts folder {directory} does not exist")
    contracts = {}
    for path in sorted(directory.glob("*.yaml")):
        contract = load_contract(path)
        contracts[contract.name] = contract
    if not contracts:
        raise ContractError(f"contracts folder {directory} holds no *.yaml contract")
    return contracts
