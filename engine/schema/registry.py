"""The schema registry: every table, field, link and aggregate of the Engine, described once.

NXQL, NQL, the exporters' placeholder helpers, the Services API and the NXQL editor read this
module only; nothing else hard-codes field names. A field maps either to a column of its table's SQL
table or, through ``via``, to a column of the table one link away (``device.entity`` is the name of
the row in ``portal_entity`` that ``entity_id`` points at).

Names follow ``data-model.md``: ``name`` is the NXQL name, ``nql`` the NQL name (a path relative to
the table, e.g. ``operating_system.platform``); ``None`` means the field does not exist in that
language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property

from engine.schema.types import FieldType, Privacy

SAME = object()  # marker: the NQL name equals the NXQL name


class TableKind(Enum):
    OBJECT = "object"
    EVENT = "event"
    INTERNAL = "internal"  # reachable through `via` only, never named in a query


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    column: str
    nql: str | None
    via: str | None = None  # name of a link of the owning table whose target holds `column`
    enum_values: tuple[str, ...] = ()
    privacy: Privacy = Privacy.NONE
    description: str = ""
    # A JSON object column whose keys are fields of their own: `outputs.Uptime` reads key `Uptime`.
    keyed_column: str | None = None
    json_key: str | None = None  # set on such a sub-field: the key it reads

    @property
    def unit(self) -> str | None:
        return self.type.unit

    def sub_field(self, key: str) -> Field | None:
        """The field ``<name>.<key>`` of a keyed field (text); None when this field has no keys."""
        if self.keyed_column is None or not key:
            return None
        return Field(name=f"{self.name}.{key}", type=FieldType.STRING, column=self.keyed_column,
                     nql=f"{self.nql}.{key}" if self.nql else None, json_key=key,
                     description=f"Key {key} of {self.name}.")


@dataclass(frozen=True)
class Link:
    """A foreign key from the owning table to another table (``execution.device``)."""

    name: str
    target: str  # key of the target table
    column: str  # foreign-key column on the owning table
    nullable: bool = False

    @property
    def nql(self) -> str:
        return self.name


@dataclass(frozen=True)
class Table:
    key: str  # internal key; equals the NXQL name for query tables
    nxql: str | None
    nql: str | None
    sql_table: str
    kind: TableKind
    fields: tuple[Field, ...]
    links: tuple[Link, ...] = ()
    time_column: str | None = None  # the column a time window applies to (events)
    end_time_column: str | None = None
    description: str = ""

    @cached_property
    def fields_by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    @cached_property
    def fields_by_nql(self) -> dict[str, Field]:
        return {f.nql: f for f in self.fields if f.nql is not None}

    @cached_property
    def links_by_name(self) -> dict[str, Link]:
        return {link.name: link for link in self.links}

    @property
    def is_event(self) -> bool:
        return self.kind is TableKind.EVENT

    @property
    def is_object(self) -> bool:
        return self.kind is TableKind.OBJECT

    @property
    def nql_singular(self) -> str | None:
        """The prefix of the table's own fields in NQL output columns (``data-model.md``)."""
        if self.nql is None:
            return None
        if "." in self.nql:  # execution.events -> execution.event
            namespace, plural = self.nql.split(".", 1)
            return f"{namespace}.{_singular(plural)}"
        return _singular(self.nql)


def _singular(plural: str) -> str:
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    if plural.endswith("shes") or plural.endswith("ses"):
        return plural[:-2]
    if plural.endswith("s"):
        return plural[:-1]
    return plural


@dataclass(frozen=True)
class Condition:
    """A fixed row filter of an aggregate form: ``column op value``."""

    column: str
    op: str  # "in" | ">="
    value: object


@dataclass(frozen=True)
class AggregateForm:
    """How an aggregate is computed over the rows of one event table."""

    table: str
    function: str  # count | count_distinct | sum | avg
    column: str | None = None
    condition: Condition | None = None


@dataclass(frozen=True)
class Aggregate:
    name: str
    type: FieldType
    forms: tuple[AggregateForm, ...]
    description: str = ""

    def form_for(self, table_key: str) -> AggregateForm | None:
        return next((form for form in self.forms if form.table == table_key), None)


def _field(name: str, type_: FieldType, *, nql=SAME, column: str | None = None, via: str | None = None,
           enum: tuple[str, ...] = (), privacy: Privacy = Privacy.NONE, description: str = "",
           keyed_column: str | None = None) -> Field:
    return Field(
        name=name, type=type_, column=column or name, nql=name if nql is SAME else nql, via=via,
        enum_values=enum, privacy=privacy, description=description, keyed_column=keyed_column,
    )


# Short names keep the table declarations below readable as a table.
S, E, INT = FieldType.STRING, FieldType.ENUM, FieldType.INT
DT, DUR, BY, PCT, IP, UID, ID = (FieldType.DATETIME, FieldType.DURATION, FieldType.BYTES, FieldType.PERCENT,
                                 FieldType.IP, FieldType.UID, FieldType.ID)
PLATFORMS = ("windows", "mac_os", "mobile")
CONNECTION_FAILURES = ("rejected", "no_host", "no_service", "timeout")


def _id() -> Field:
    return _field("id", ID, description="Internal identifier.")


def _event_times() -> tuple[Field, ...]:
    return (
        _id(),
        _field("start_time", DT, description="Start of the event (UTC)."),
        _field("end_time", DT, description="End of the event (UTC)."),
    )


def _device_link() -> Link:
    return Link("device", "device", "device_id")


def _user_link() -> Link:
    return Link("user", "user", "user_id", nullable=True)


def _binary_link() -> Link:
    return Link("binary", "binary", "binary_id")


TABLES: tuple[Table, ...] = (
    # -- internal tables reached through `via` --------------------------------------------------
    Table("engine_row", None, None, "engine_engine", TableKind.INTERNAL, fields=(
        _field("name", S, nql=None),
    )),
    Table("entity_row", None, None, "portal_entity", TableKind.INTERNAL, fields=(
        _field("name", S, nql=None),
    )),
    # -- objects --------------------------------------------------------------------------------
    Table("device", "device", "devices", "engine_device", TableKind.OBJECT, description="Endpoints.", fields=(
        _id(),
        _field("name", S, privacy=Privacy.DEVICE, description="Device name."),
        _field("device_uid", UID, nql="uid", description="Device UID (32 hex characters)."),
        _field("collector_uid", UID, nql="collector.uid", description="UID of the device's collector."),
        _field("platform", E, nql="operating_system.platform", enum=PLATFORMS),
        _field("os_version_and_architecture", S, nql="operating_system.name"),
        _field("os_build", S, nql="operating_system.build"),
        _field("device_type", E, nql="hardware.type",
               enum=("laptop", "desktop", "server", "virtual", "smartphone")),
        _field("device_manufacturer", S, nql="hardware.manufacturer"),
        _field("device_model", S, nql="hardware.model"),
        _field("device_serial_number", S, nql="hardware.serial_number", privacy=Privacy.DEVICE),
        _field("total_ram", BY, nql="hardware.memory"),
        _field("number_of_cpus", INT, nql="hardware.number_of_cpus"),
        _field("cpu_model", S, nql="hardware.cpu_model"),
        _field("system_drive_capacity", BY, nql="hardware.system_drive_capacity"),
        _field("system_drive_free_space", BY, nql="hardware.system_drive_free_space"),
        _field("system_drive_usage", PCT, nql="hardware.system_drive_usage"),
        _field("last_ip_address", IP, privacy=Privacy.DEVICE),
        _field("mac_addresses", S, privacy=Privacy.DEVICE),
        _field("entity", S, column="name", via="entity"),
        _field("engine", S, column="name", via="engine", description="Name of the device's Engine."),
        _field("first_seen", DT),
        _field("last_seen", DT),
        _field("last_system_boot", DT, nql="boot.last_system_boot"),
        _field("last_boot_duration", DUR, nql="boot.last_boot_duration"),
        _field("last_logged_on_user", S, privacy=Privacy.USER),
    ), links=(
        Link("entity", "entity_row", "entity_id"),
        Link("engine", "engine_row", "engine_id"),
    )),
    Table("user", "user", "users", "engine_user", TableKind.OBJECT, description="Users of the endpoints.", fields=(
        _id(),
        _field("name", S, privacy=Privacy.USER),
        _field("user_uid", UID, nql="uid"),
        _field("sid", S, privacy=Privacy.USER),
        _field("full_name", S, privacy=Privacy.USER),
        _field("department", S),
        _field("job_title", S),
        _field("user_type", E, nql="type", enum=("local", "domain", "system")),
        _field("first_seen", DT),
        _field("last_seen", DT),
    )),
    Table("binary", "binary", "binaries", "engine_binary", TableKind.OBJECT, description="Executables.", fields=(
        _id(),
        _field("name", S),
        _field("executable_name", S),
        _field("version", S),
        _field("application_name", S, nql=None, column="name", via="application"),
        _field("company", S),
        _field("description", S),
        _field("threat_level", E, enum=("none", "low", "medium", "high")),
        _field("size", BY),
        _field("sha256", S),
        _field("platform", E, enum=PLATFORMS),
        _field("first_seen", DT),
        _field("last_seen", DT),
    ), links=(
        Link("application", "application", "application_id", nullable=True),
    )),
    Table("application", "application", "applications", "engine_application", TableKind.OBJECT, fields=(
        _id(),
        _field("name", S),
        _field("company", S),
        _field("description", S),
        _field("category", S),
    )),
    Table("package", "package", "packages", "engine_package", TableKind.OBJECT, fields=(
        _id(),
        _field("name", S),
        _field("version", S),
        _field("publisher", S),
        _field("platform", E, enum=PLATFORMS),
        _field("first_seen", DT),
    )),
    Table("destination", "destination", "destinations", "engine_destination", TableKind.OBJECT, fields=(
        _id(),
        _field("name", S),
        _field("ip_address", IP),
    )),
    Table("domain", "domain", "domains", "engine_domain", TableKind.OBJECT, fields=(
        _id(),
        _field("name", S),
        _field("category", S),
        _field("hosting_country", S),
    )),
    Table("port", "port", "ports", "engine_port", TableKind.OBJECT, fields=(
        _id(),
        _field("port_number", INT),
        _field("protocol", E, enum=("tcp", "udp")),
    )),
    Table("remote_action", "remote_action", "remote_actions", "remote_actions_remoteaction", TableKind.OBJECT,
          description="Remote actions (scripts run on devices).", fields=(
              _id(),
              _field("name", S),
              _field("nql_id", S, description="NQL ID, e.g. #restart_service."),
              _field("uid", UID),
              # Stored as a list; read as its values joined with ", " (DATA_COLLECTION, REMEDIATION).
              _field("purpose", S, column="purpose_text", description="DATA_COLLECTION and/or REMEDIATION."),
          )),
    # -- events ---------------------------------------------------------------------------------
    Table("execution", "execution", "execution.events", "engine_execution", TableKind.EVENT,
          time_column="start_time", end_time_column="end_time", description="Executions of binaries.",
          fields=(
              *_event_times(),
              _field("duration", DUR),
              _field("cpu_time", DUR),
              _field("memory", BY),
              _field("number_of_crashes", INT),
              _field("binary_path", S),
          ), links=(_device_link(), _user_link(), _binary_link())),
    Table("crash", "crash", "execution.crashes", "engine_crash", TableKind.EVENT,
          time_column="time", description="Crashes of executions.", fields=(
              _id(),
              _field("start_time", DT, nql="time", column="time"),
              # A crash is an instant: it ends when it starts.
              _field("end_time", DT, nql=None, column="time"),
              _field("exception_code", S),
          ), links=(_device_link(), _user_link(), _binary_link())),
    Table("connection", "connection", "connection.events", "engine_connection", TableKind.EVENT,
          time_column="start_time", end_time_column="end_time", description="Network connections.",
          fields=(
              *_event_times(),
              _field("status", E, enum=("established", "closed", *CONNECTION_FAILURES)),
              _field("incoming_traffic", BY),
              _field("outgoing_traffic", BY),
              _field("network_response_time", DUR),
              _field("number_of_connections", INT),
          ), links=(_device_link(), _user_link(), _binary_link(),
                    Link("destination", "destination", "destination_id"),
                    Link("port", "port", "port_id"))),
    Table("web_request", "web_request", "web.events", "engine_webrequest", TableKind.EVENT,
          time_column="start_time", end_time_column="end_time", description="Web requests.", fields=(
              *_event_times(),
              _field("url_path", S),
              _field("protocol", E, enum=("http", "https")),
              _field("http_status", INT),
              _field("response_time", DUR),
              _field("incoming_traffic", BY),
              _field("outgoing_traffic", BY),
              _field("number_of_requests", INT),
          ), links=(_device_link(), _user_link(), _binary_link(),
                    Link("domain", "domain", "domain_id"))),
    Table("event", "event", "device_performance.events", "engine_event", TableKind.EVENT,
          time_column="start_time", end_time_column="end_time", description="Device performance events.",
          fields=(
              *_event_times(),
              _field("type", E, enum=("system_boot", "user_logon", "system_crash", "hard_reset", "low_disk",
                                       "high_cpu")),
              _field("duration", DUR),
              _field("details", S),
          ), links=(_device_link(), _user_link())),
    Table("installation", "installation", "package.installations", "engine_installation", TableKind.EVENT,
          time_column="start_time", end_time_column="end_time", description="Package installations.",
          fields=(
              *_event_times(),
              _field("type", E, enum=("installation", "uninstallation")),
          ), links=(_device_link(), Link("package", "package", "package_id"))),
    # `outputs` reads as the JSON object text of the outputs; `outputs.<Name>` sub-fields are not
    # registered yet (the registry has no dynamic fields).
    Table("remote_action_execution", "remote_action_execution", "remote_action.executions",
          "remote_actions_execution", TableKind.EVENT, time_column="time",
          description="Executions of remote actions on devices.", fields=(
              _id(),
              _field("start_time", DT, nql="time", column="time", description="Last status change (UTC)."),
              _field("end_time", DT, nql=None, column="time"),
              _field("request_id", UID, column="request_uid", description="The request's requestId."),
              _field("status", E, enum=("waiting_for_device", "in_progress", "success", "failure", "expired",
                                        "cancelled")),
              _field("status_details", S),
              _field("trigger_method", E, enum=("api", "manual", "workflow", "scheduled")),
              _field("outputs", S, column="outputs_text", keyed_column="outputs",
                     description="Outputs as a JSON object; each declared output also as outputs.<Name>."),
              _field("external_source", S),
              _field("external_reference", S),
          ), links=(_device_link(), Link("remote_action", "remote_action", "remote_action_id"))),
)

_EVENT_TABLES = tuple(t.key for t in TABLES if t.kind is TableKind.EVENT)
_WITH_USER = tuple(t.key for t in TABLES if t.kind is TableKind.EVENT and "user" in {lk.name for lk in t.links})
_WITH_BINARY = ("execution", "crash", "connection", "web_request")


def _counts(table: str) -> AggregateForm:
    return AggregateForm(table, "count")


AGGREGATES: tuple[Aggregate, ...] = (
    Aggregate("number_of_executions", INT, (_counts("execution"),), "Execution rows."),
    # Over crash rows, a count; over executions, the crashes each execution recorded.
    Aggregate("number_of_crashes", INT, (
        _counts("crash"),
        AggregateForm("execution", "sum", "number_of_crashes"),
    ), "Crashes."),
    Aggregate("number_of_connections", INT, (_counts("connection"),), "Connection rows."),
    Aggregate("number_of_failed_connections", INT, (
        AggregateForm("connection", "count", condition=Condition("status", "in", CONNECTION_FAILURES)),
    ), "Connection rows that failed (rejected, no host, no service, timeout)."),
    Aggregate("number_of_web_requests", INT, (_counts("web_request"),), "Web request rows."),
    Aggregate("number_of_http_errors", INT, (
        AggregateForm("web_request", "count", condition=Condition("http_status", ">=", 400)),
    ), "Web request rows answered with an HTTP status of 400 or more."),
    Aggregate("number_of_devices", INT, tuple(AggregateForm(t, "count_distinct", "device_id") for t in _EVENT_TABLES),
              "Distinct devices."),
    Aggregate("number_of_users", INT, tuple(AggregateForm(t, "count_distinct", "user_id") for t in _WITH_USER),
              "Distinct users."),
    Aggregate("number_of_binaries", INT,
              tuple(AggregateForm(t, "count_distinct", "binary_id") for t in _WITH_BINARY),
              "Distinct binaries."),
    Aggregate("incoming_traffic", BY, (
        AggregateForm("connection", "sum", "incoming_traffic"),
        AggregateForm("web_request", "sum", "incoming_traffic"),
    ), "Bytes received."),
    Aggregate("outgoing_traffic", BY, (
        AggregateForm("connection", "sum", "outgoing_traffic"),
        AggregateForm("web_request", "sum", "outgoing_traffic"),
    ), "Bytes sent."),
    Aggregate("execution_duration", DUR, (AggregateForm("execution", "sum", "duration"),),
              "Total execution time."),
    Aggregate("average_network_response_time", DUR, (AggregateForm("connection", "avg", "network_response_time"),),
              "Average network response time."),
    Aggregate("average_response_time", DUR, (AggregateForm("web_request", "avg", "response_time"),),
              "Average web response time."),
)


@dataclass(frozen=True)
class ObjectPair:
    """Two object tables queried together (NXQL ``(from (device package))``): linked through events."""

    first: str
    second: str
    through: tuple[str, ...]  # event tables whose rows link the two
    # (column, value) the latest linking row must hold for the pair to count, e.g. a package
    # counts as on a device when its last installation event was not an uninstallation.
    current_state: tuple[str, str] | None = None


OBJECT_PAIRS: tuple[ObjectPair, ...] = (
    ObjectPair("device", "package", ("installation",), current_state=("type", "installation")),
    ObjectPair("device", "user", ("execution", "connection", "web_request", "event")),
    ObjectPair("device", "binary", ("execution", "connection", "web_request")),
    ObjectPair("user", "binary", ("execution", "connection", "web_request")),
)


class UnknownName(LookupError):
    """A table, field or aggregate name that the registry does not know."""

    def __init__(self, kind: str, name: str, candidates: list[str]):
        super().__init__(f"unknown {kind} '{name}'")
        self.kind, self.name, self.candidates = kind, name, candidates


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]
    aggregates: tuple[Aggregate, ...]
    pairs: tuple[ObjectPair, ...] = field(default=())

    @cached_property
    def _by_key(self) -> dict[str, Table]:
        return {t.key: t for t in self.tables}

    @cached_property
    def _by_nxql(self) -> dict[str, Table]:
        return {t.nxql: t for t in self.tables if t.nxql}

    @cached_property
    def _by_nql(self) -> dict[str, Table]:
        return {t.nql: t for t in self.tables if t.nql}

    @cached_property
    def _aggregates(self) -> dict[str, Aggregate]:
        return {a.name: a for a in self.aggregates}

    def table(self, key: str) -> Table:
        return self._by_key[key]

    def query_tables(self) -> list[Table]:
        return [t for t in self.tables if t.kind is not TableKind.INTERNAL]

    def nxql_table(self, name: str) -> Table:
        try:
            return self._by_nxql[name.lower()]
        except KeyError:
            raise UnknownName("table", name, sorted(self._by_nxql)) from None

    def nql_table(self, name: str) -> Table:
        try:
            return self._by_nql[name.lower()]
        except KeyError:
            raise UnknownName("table", name, sorted(self._by_nql)) from None

    def aggregate(self, name: str) -> Aggregate:
        try:
            return self._aggregates[name.lower()]
        except KeyError:
            raise UnknownName("aggregate", name, sorted(self._aggregates)) from None

    def aggregates_for(self, table_key: str) -> list[Aggregate]:
        return [a for a in self.aggregates if a.form_for(table_key)]

    def pair(self, first: str, second: str) -> ObjectPair | None:
        for candidate in self.pairs:
            if {candidate.first, candidate.second} == {first, second}:
                return candidate
        return None

    def hidden_fields(self, table_key: str, data_privacy: str) -> list[Field]:
        return [f for f in self.table(table_key).fields if f.privacy.hidden_at(data_privacy)]


SCHEMA = Schema(TABLES, AGGREGATES, OBJECT_PAIRS)
