"""The Engine's data in the portal: Engines, endpoint objects, activity (read-only) and categories.

Data privacy (platform.md): a staff account whose profile has data privacy ``partial`` does not
see user-identifying fields on these pages, ``full`` additionally hides device-identifying ones;
superusers see everything. The fields are listed once, in ``IDENTIFYING_FIELDS``.

Activity tables hold tens of millions of rows: their pages never count them exactly
(``EstimatedCountPaginator``), never sort on unindexed columns, filter only on short choice lists,
and load the linked rows in the same query.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Count
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode

from engine.models import (
    Application,
    Binary,
    Category,
    CategoryAssignment,
    Connection,
    Crash,
    Destination,
    Device,
    DeviceEvent,
    Domain,
    EndUser,
    Engine,
    Execution,
    Installation,
    Keyword,
    Package,
    Port,
    WebRequest,
)
from portal.admin_mixins import ViewOnlyAdminMixin
from portal.models import Profile

Privacy = Profile.DataPrivacy

# The fields that identify a person or a device, per data-privacy level (platform.md). ``full``
# hides its own fields and those of ``partial``. A link to a row whose ``name`` is hidden is hidden
# too (a link shows the row's name). The schema registry (``engine.schema``) may take this over.
IDENTIFYING_FIELDS: dict[str, dict[type, tuple[str, ...]]] = {
    Privacy.PARTIAL: {
        EndUser: ("name", "full_name", "sid"),
        Device: ("last_logged_on_user",),
    },
    Privacy.FULL: {
        Device: ("name", "last_ip_address", "mac_addresses", "device_serial_number"),
    },
}

# The object table each category applies to.
CATEGORY_OBJECT_MODELS: dict[str, type] = {
    Category.ObjectTable.DEVICE: Device,
    Category.ObjectTable.USER: EndUser,
    Category.ObjectTable.BINARY: Binary,
    Category.ObjectTable.APPLICATION: Application,
    Category.ObjectTable.PACKAGE: Package,
    Category.ObjectTable.DESTINATION: Destination,
    Category.ObjectTable.DOMAIN: Domain,
    Category.ObjectTable.PORT: Port,
}


def hidden_fields(level: str) -> dict[type, frozenset[str]]:
    """Model -> names of the fields an account with data privacy ``level`` must not see."""
    levels = {Privacy.PARTIAL: [Privacy.PARTIAL], Privacy.FULL: [Privacy.PARTIAL, Privacy.FULL]}.get(level, [])
    hidden: dict[type, set[str]] = {}
    for each in levels:
        for model, names in IDENTIFYING_FIELDS[each].items():
            hidden.setdefault(model, set()).update(names)
    return {model: frozenset(names) for model, names in hidden.items()}


def path_is_hidden(model, path: str, hidden: dict[type, frozenset[str]]) -> bool:
    """Whether a field path (``name``, ``device__name``, ``user``, ``=sid``, ``name__startswith``) shows
    or filters on a hidden field. Names that are not model fields (display methods) are not hidden."""
    if not hidden:
        return False
    parts = str(path).lstrip("^=@").split("__")
    for index, part in enumerate(parts):
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return False
        if part in hidden.get(model, ()):
            return True
        if not field.is_relation or field.related_model is None:
            return False
        model = field.related_model
        if index == len(parts) - 1 and "name" in hidden.get(model, ()):
            return True
    return False


class MaskedObject:
    """Stands for a row whose label (its name) is hidden: ``Device #12``."""

    def __init__(self, obj):
        self.pk = obj.pk
        self._meta = obj._meta
        self.label = f"{obj._meta.verbose_name.capitalize()} #{obj.pk}"

    def __str__(self) -> str:
        return self.label


def human_duration(ms) -> str:
    """Milliseconds in the best unit (data-model.md, hr=true)."""
    if ms is None:
        return "-"
    ms = int(ms)
    if ms < 1000:
        return f"{ms} ms"
    tenths = (ms + 50) // 100
    if tenths < 600:
        return f"{tenths // 10}.{tenths % 10} s"
    seconds = (ms + 500) // 1000
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    minutes = (ms + 30_000) // 60_000
    if minutes < 1440:
        return f"{minutes // 60} h {minutes % 60} min"
    hours = (ms + 1_800_000) // 3_600_000
    return f"{hours // 24} d {hours % 24} h"


def human_bytes(value) -> str:
    """Bytes in the best unit, powers of 1024 (data-model.md, hr=true)."""
    if value is None:
        return "-"
    value = int(value)
    if value < 1024:
        return f"{value} B"
    for power, unit in enumerate(("KB", "MB", "GB", "TB"), start=1):
        tenths = int((Decimal(value) * 10 / Decimal(1024**power)).quantize(Decimal(1), ROUND_HALF_UP))
        if tenths < 10240 or unit == "TB":
            return f"{tenths // 10}.{tenths % 10} {unit}"
    raise AssertionError("unreachable")


def changelist_url(model, **filters) -> str:
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return url + ("?" + urlencode(filters) if filters else "")


def changelist_link(model, label, **filters) -> str:
    return format_html('<a href="{}">{}</a>', changelist_url(model, **filters), label)


# -- Data privacy -------------------------------------------------------------------------------


class DataPrivacyMixin:
    """Hides identifying fields from columns, forms, search, filters and titles by data privacy.

    Pages of a model with hidden fields are read-only for such accounts: what they cannot see they
    cannot edit, and saving would echo the hidden name back in messages and the action log.
    """

    def data_privacy(self, request) -> str:
        user = request.user
        if user.is_superuser:
            return Privacy.NONE
        profile = getattr(user, "profile", None)
        return profile.data_privacy if profile is not None else Privacy.FULL

    def hidden_fields(self, request) -> dict[type, frozenset[str]]:
        if not hasattr(request, "_opendex_hidden_fields"):
            request._opendex_hidden_fields = hidden_fields(self.data_privacy(request))
        return request._opendex_hidden_fields

    def is_hidden(self, request, path) -> bool:
        return path_is_hidden(self.model, path, self.hidden_fields(request))

    def hides_something(self, request) -> bool:
        hidden = self.hidden_fields(request)
        if not hidden:
            return False
        return any(self.is_hidden(request, field.name) for field in self.model._meta.get_fields()
                   if field.concrete)

    def label_is_hidden(self, request) -> bool:
        return "name" in self.hidden_fields(request).get(self.model, ())

    def _visible(self, request, names):
        return [name for name in names if callable(name) or not self.is_hidden(request, name)]

    # Columns, filters, search.
    def get_list_display(self, request):
        columns = super().get_list_display(request)
        shown = self._visible(request, columns)
        if len(shown) < len(columns) and self.label_is_hidden(request):
            # The name that identified the row is gone: its id links to it instead.
            shown.insert(0, "id")
        return shown or ["id"]

    def get_list_filter(self, request):
        return [spec for spec in super().get_list_filter(request)
                if not (isinstance(spec, (str, tuple, list)) and self.is_hidden(
                    request, spec if isinstance(spec, str) else spec[0]))]

    def get_list_select_related(self, request):
        related = super().get_list_select_related(request)
        if isinstance(related, (list, tuple)):
            return [path for path in related if not self.is_hidden(request, path.split("__")[0])]
        return related

    def get_search_fields(self, request):
        return self._visible(request, super().get_search_fields(request))

    def get_sortable_by(self, request):
        return self._visible(request, super().get_sortable_by(request))

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete widgets elsewhere label each row with its name: offer none when it is hidden.
        match = getattr(request, "resolver_match", None)
        if match is not None and match.url_name == "autocomplete" and self.label_is_hidden(request):
            return queryset.none(), False
        return super().get_search_results(request, queryset, search_term)

    def lookup_allowed(self, lookup, value, request=None):
        if request is not None and self.is_hidden(request, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        fields = self.get_search_fields(request)
        if fields:
            changelist.search_help_text = self.describe_search(fields)
        return changelist

    def describe_search(self, fields) -> str:
        labels = []
        for spec in fields:
            model, words = self.model, []
            exact = spec.startswith("=") or spec.endswith("__exact")
            for part in spec.lstrip("^=@").split("__"):
                try:
                    field = model._meta.get_field(part)
                except FieldDoesNotExist:
                    break
                if field.is_relation and field.related_model is not None:
                    words.append(str(field.related_model._meta.verbose_name))
                    model = field.related_model
                else:
                    words.append(str(field.verbose_name))
            label = " ".join(dict.fromkeys(" ".join(words).split()))
            labels.append(f"exact {label}" if exact else label)
        text = ", ".join(labels[:-1]) + (" or " if len(labels) > 1 else "") + labels[-1]
        return f"Search by {text}."

    # Forms and pages.
    def get_fields(self, request, obj=None):
        return self._visible(request, super().get_fields(request, obj))

    def get_fieldsets(self, request, obj=None):
        fieldsets = []
        for title, options in super().get_fieldsets(request, obj):
            rows = []
            for row in options.get("fields", ()):
                if isinstance(row, (list, tuple)):
                    row = tuple(self._visible(request, row))
                    if row:
                        rows.append(row)
                elif callable(row) or not self.is_hidden(request, row):
                    rows.append(row)
            if rows:
                fieldsets.append((title, {**options, "fields": tuple(rows)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        return self._visible(request, super().get_readonly_fields(request, obj))

    def has_add_permission(self, request):
        return not self.hides_something(request) and super().has_add_permission(request)

    def has_change_permission(self, request, obj=None):
        return not self.hides_something(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not self.hides_something(request) and super().has_delete_permission(request, obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and self.label_is_hidden(request):
            context["original"] = MaskedObject(obj)
            context["subtitle"] = str(context["original"])
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def history_view(self, request, object_id, extra_context=None):
        if self.label_is_hidden(request):
            obj = self.get_object(request, unquote(object_id))
            if obj is not None:
                masked = MaskedObject(obj)
                extra_context = {**(extra_context or {}), "object": masked, "title": f"Change history: {masked}"}
        return super().history_view(request, object_id, extra_context)


class EngineDataAdmin(DataPrivacyMixin, admin.ModelAdmin):
    list_per_page = 100


class EndpointObjectAdmin(EngineDataAdmin):
    """Objects the activity links to. Deleting one would cascade into its activity, which the
    admin's confirmation page loads in full (possibly millions of rows): the portal does not
    offer it; the collectors own these rows."""

    def has_delete_permission(self, request, obj=None):
        return False


# -- Paging large tables ------------------------------------------------------------------------


def estimated_rows(model, using: str) -> int:
    """The planner's row estimate for ``model``'s table (children included if it is partitioned)."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return -1
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST("
            " (SELECT reltuples FROM pg_class WHERE oid = to_regclass(%s)),"
            " (SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0) FROM pg_inherits i"
            "  JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(%s)))::bigint",
            [table, table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else -1


class EstimatedCountPaginator(Paginator):
    """Counts at most ``exact_count_limit`` rows; an unfiltered list of a big table uses the planner's
    estimate instead (``pg_class.reltuples``), so no page of a large table ever counts it in full."""

    exact_count_limit = 10_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        limit = self.exact_count_limit
        if not hasattr(queryset, "query"):
            return len(queryset)
        if not queryset.query.where:
            estimate = estimated_rows(queryset.model, queryset.db)
            if estimate > limit:
                return estimate
        return queryset.order_by()[:limit].count()


class ActivityAdmin(ViewOnlyAdminMixin, EngineDataAdmin):
    """Activity rows come from the collectors: listed and viewed, never added, changed or deleted."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 100
    list_max_show_all = 200
    actions = None
    time_field = "start_time"

    def get_ordering(self, request):
        return (f"-{self.time_field}",)

    def get_sortable_by(self, request):
        # Only the indexed time column: sorting tens of millions of rows by anything else is slow.
        return (self.time_field,)

    deletable = False


def formatted(field: str, formatter, description: str | None = None):
    """A list column showing ``field`` through ``formatter`` (durations, byte counts)."""

    @admin.display(description=description or field.replace("_", " "))
    def column(self, obj):
        return formatter(getattr(obj, field))

    column.__name__ = f"{field}_display"
    return column


class HttpStatusFilter(admin.SimpleListFilter):
    title = "HTTP status"
    parameter_name = "http_status_class"
    CLASSES = {"2xx": (200, 300), "3xx": (300, 400), "4xx": (400, 500), "5xx": (500, 600),
               "errors": (400, 1000)}

    def lookups(self, request, model_admin):
        return [("2xx", "2xx success"), ("3xx", "3xx redirection"), ("4xx", "4xx client error"),
                ("5xx", "5xx server error"), ("errors", "any error (400 and above)")]

    def queryset(self, request, queryset):
        bounds = self.CLASSES.get(self.value())
        if bounds is None:
            return queryset
        return queryset.filter(http_status__gte=bounds[0], http_status__lt=bounds[1])


# -- Engines ------------------------------------------------------------------------------------


@admin.register(Engine)
class EngineAdmin(EngineDataAdmin):
    fieldsets = (
        (None, {"fields": ("name", "description", "status")}),
        ("Connection", {"fields": ("address", "port", "timezone", "version")}),
        ("Identifiers", {"fields": ("database_uid", "machine_id")}),
    )
    list_display = ("name", "address", "status", "database_uid", "timezone", "version", "number_of_devices")
    list_filter = ("status",)
    search_fields = ("name", "address", "database_uid")
    ordering = ("name",)
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(device_count=Count("devices"))

    @admin.display(description="devices", ordering="device_count")
    def number_of_devices(self, obj: Engine):
        return changelist_link(Device, obj.device_count, engine__id__exact=obj.pk)


# -- Objects ------------------------------------------------------------------------------------


@admin.register(Device)
class DeviceAdmin(EndpointObjectAdmin):
    fieldsets = (
        ("Identity", {"fields": ("name", "device_uid", "collector_uid", "engine", "entity")}),
        ("Operating system", {"fields": ("platform", "os_version_and_architecture", "os_build")}),
        (
            "Hardware",
            {
                "fields": (
                    "device_type",
                    ("device_manufacturer", "device_model"),
                    "device_serial_number",
                    ("total_ram", "number_of_cpus"),
                    "cpu_model",
                    ("system_drive_capacity", "system_drive_free_space", "system_drive_usage"),
                )
            },
        ),
        ("Network", {"fields": ("last_ip_address", "mac_addresses")}),
        (
            "Activity",
            {
                "fields": (
                    ("first_seen", "last_seen"),
                    ("last_system_boot", "last_boot_duration"),
                    "last_logged_on_user",
                    "activity",
                )
            },
        ),
    )
    readonly_fields = ("activity",)
    list_display = (
        "name",
        "platform",
        "device_type",
        "engine",
        "entity",
        "last_ip_address",
        "last_logged_on_user",
        "last_seen",
    )
    list_filter = ("platform", "device_type", "engine", "entity")
    list_select_related = ("engine", "entity")
    search_fields = ("name", "=device_uid", "=collector_uid", "device_serial_number")
    autocomplete_fields = ("entity",)
    ordering = ("name",)

    @admin.display(description="activity")
    def activity(self, obj: Device):
        if obj is None or obj.pk is None:
            return "-"
        tables = (Execution, Crash, Connection, WebRequest, DeviceEvent, Installation)
        return format_html_join(
            " · ",
            '<a href="{}">{}</a>',
            ((changelist_url(model, device__id__exact=obj.pk), model._meta.verbose_name_plural)
             for model in tables),
        )


@admin.register(EndUser)
class EndUserAdmin(EndpointObjectAdmin):
    fieldsets = (
        (None, {"fields": ("name", "full_name", "user_uid", "sid", "user_type")}),
        ("Organisation", {"fields": ("department", "job_title")}),
        ("Activity", {"fields": (("first_seen", "last_seen"),)}),
    )
    list_display = ("name", "full_name", "department", "job_title", "user_type", "last_seen")
    list_filter = ("user_type", "department")
    search_fields = ("name", "full_name", "=user_uid", "=sid")
    ordering = ("name",)


@admin.register(Application)
class ApplicationAdmin(EngineDataAdmin):
    list_display = ("name", "company", "category", "number_of_binaries")
    list_filter = ("category",)
    search_fields = ("name", "company")
    ordering = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(binary_count=Count("binaries"))

    @admin.display(description="binaries", ordering="binary_count")
    def number_of_binaries(self, obj: Application):
        return changelist_link(Binary, obj.binary_count, application__id__exact=obj.pk)


@admin.register(Binary)
class BinaryAdmin(EndpointObjectAdmin):
    fieldsets = (
        (None, {"fields": ("name", "executable_name", "version", "application", "platform")}),
        ("Publisher", {"fields": ("company", "description")}),
        ("Security", {"fields": ("threat_level", "size", "sha256")}),
        ("Activity", {"fields": (("first_seen", "last_seen"),)}),
    )
    list_display = ("name", "version", "application", "company", "threat_level", "platform", "size_display",
                    "last_seen")
    list_filter = ("platform", "threat_level")
    list_select_related = ("application",)
    search_fields = ("name", "executable_name", "company", "=sha256")
    autocomplete_fields = ("application",)
    ordering = ("name", "version")

    size_display = formatted("size", human_bytes, "size")


@admin.register(Package)
class PackageAdmin(EndpointObjectAdmin):
    list_display = ("name", "version", "publisher", "platform", "first_seen")
    list_filter = ("platform",)
    search_fields = ("name", "publisher")
    ordering = ("name", "version")


@admin.register(Destination)
class DestinationAdmin(EndpointObjectAdmin):
    list_display = ("name", "ip_address")
    search_fields = ("name", "ip_address")
    ordering = ("name",)


@admin.register(Domain)
class DomainAdmin(EndpointObjectAdmin):
    list_display = ("name", "category", "hosting_country")
    list_filter = ("category", "hosting_country")
    search_fields = ("name",)
    ordering = ("name",)


@admin.register(Port)
class PortAdmin(EndpointObjectAdmin):
    list_display = ("port_number", "protocol")
    list_filter = ("protocol",)
    search_fields = ("port_number__exact",)
    ordering = ("port_number", "protocol")


# -- Activity -----------------------------------------------------------------------------------


@admin.register(Execution)
class ExecutionAdmin(ActivityAdmin):
    list_display = ("start_time", "device", "user", "binary", "duration_display", "cpu_time_display",
                    "memory_display", "number_of_crashes")
    list_select_related = ("device", "user", "binary")
    raw_id_fields = ("device", "user", "binary")
    search_fields = ("device__name__exact", "binary__name__exact", "user__name__exact")

    duration_display = formatted("duration", human_duration)
    cpu_time_display = formatted("cpu_time", human_duration, "CPU time")
    memory_display = formatted("memory", human_bytes)


@admin.register(Crash)
class CrashAdmin(ActivityAdmin):
    time_field = "time"
    list_display = ("time", "device", "user", "binary", "exception_code")
    list_select_related = ("device", "user", "binary")
    raw_id_fields = ("device", "user", "binary")
    search_fields = ("device__name__exact", "binary__name__exact", "exception_code__exact")


@admin.register(Connection)
class ConnectionAdmin(ActivityAdmin):
    list_display = ("start_time", "device", "user", "binary", "destination", "port", "status",
                    "incoming_traffic_display", "outgoing_traffic_display", "network_response_time_display",
                    "number_of_connections")
    list_filter = ("status",)
    list_select_related = ("device", "user", "binary", "destination", "port")
    raw_id_fields = ("device", "user", "binary", "destination", "port")
    search_fields = ("device__name__exact", "binary__name__exact", "destination__name__exact")

    incoming_traffic_display = formatted("incoming_traffic", human_bytes, "incoming")
    outgoing_traffic_display = formatted("outgoing_traffic", human_bytes, "outgoing")
    network_response_time_display = formatted("network_response_time", human_duration, "response time")


@admin.register(WebRequest)
class WebRequestAdmin(ActivityAdmin):
    list_display = ("start_time", "device", "user", "binary", "domain", "url_path", "protocol", "http_status",
                    "response_time_display", "incoming_traffic_display", "outgoing_traffic_display",
                    "number_of_requests")
    list_filter = ("protocol", HttpStatusFilter)
    list_select_related = ("device", "user", "binary", "domain")
    raw_id_fields = ("device", "user", "binary", "domain")
    search_fields = ("device__name__exact", "domain__name__exact")

    response_time_display = formatted("response_time", human_duration, "response time")
    incoming_traffic_display = formatted("incoming_traffic", human_bytes, "incoming")
    outgoing_traffic_display = formatted("outgoing_traffic", human_bytes, "outgoing")


@admin.register(DeviceEvent)
class DeviceEventAdmin(ActivityAdmin):
    list_display = ("start_time", "device", "user", "type", "duration_display", "details")
    list_filter = ("type",)
    list_select_related = ("device", "user")
    raw_id_fields = ("device", "user")
    search_fields = ("device__name__exact",)

    duration_display = formatted("duration", human_duration)


@admin.register(Installation)
class InstallationAdmin(ActivityAdmin):
    list_display = ("start_time", "device", "package", "type")
    list_filter = ("type",)
    list_select_related = ("device", "package")
    raw_id_fields = ("device", "package")
    search_fields = ("device__name__exact", "package__name__exact")


# -- Categories ---------------------------------------------------------------------------------


class KeywordInline(admin.TabularInline):
    model = Keyword
    fields = ("name",)
    extra = 3


@admin.register(Category)
class CategoryAdmin(EngineDataAdmin):
    fields = ("name", "object_table", "description")
    inlines = (KeywordInline,)
    list_display = ("name", "object_table", "number_of_keywords", "assignments")
    list_filter = ("object_table",)
    search_fields = ("name", "keywords__name")
    ordering = ("object_table", "name")
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(keyword_count=Count("keywords"))

    @admin.display(description="keywords", ordering="keyword_count")
    def number_of_keywords(self, obj: Category):
        return changelist_link(Keyword, obj.keyword_count, category__id__exact=obj.pk)

    @admin.display(description="assignments")
    def assignments(self, obj: Category):
        return changelist_link(CategoryAssignment, "view", category__id__exact=obj.pk)


@admin.register(Keyword)
class KeywordAdmin(EngineDataAdmin):
    list_display = ("name", "category")
    list_filter = ("category",)
    list_select_related = ("category",)
    search_fields = ("name", "category__name")
    ordering = ("category__object_table", "category__name", "name")


class CategoryAssignmentForm(forms.ModelForm):
    class Meta:
        model = CategoryAssignment
        fields = ("category", "keyword", "object_id")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "keyword" in self.fields:
            self.fields["keyword"].queryset = Keyword.objects.select_related("category")
            self.fields["keyword"].label_from_instance = lambda keyword: f"#{keyword.category.name}: {keyword}"

    def clean(self):
        cleaned = super().clean()
        category, keyword = cleaned.get("category"), cleaned.get("keyword")
        if category is not None and keyword is not None and keyword.category_id != category.pk:
            self.add_error("keyword", f"“{keyword.name}” is not a keyword of #{category.name}.")
        object_id = cleaned.get("object_id")
        if category is not None and object_id is not None:
            model = CATEGORY_OBJECT_MODELS.get(category.object_table)
            if model is not None and not model.objects.filter(pk=object_id).exists():
                self.add_error(
                    "object_id", f"No {model._meta.verbose_name} has the id {object_id}."
                )
        return cleaned


@admin.register(CategoryAssignment)
class CategoryAssignmentAdmin(EngineDataAdmin):
    form = CategoryAssignmentForm
    list_display = ("category", "keyword", "object_id")
    list_filter = ("category",)
    list_select_related = ("category", "keyword")
    search_fields = ("keyword__name", "object_id__exact")
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    ordering = ("category", "object_id")



# -- Saved NQL queries, NQL exports and the Investigations page (nql.md) --------------------------


def _nql_models():
    from engine.models import NqlExport, SavedQuery

    return SavedQuery, NqlExport


class SavedQueryForm(forms.ModelForm):
    class Meta:
        model = _nql_models()[0]
        fields = ("nql_id", "name", "description", "text")
        widgets = {
            "text": forms.Textarea(attrs={"rows": 8, "cols": 100, "spellcheck": "false",
                                          "style": "font-family: monospace"}),
            "description": forms.Textarea(attrs={"rows": 3, "cols": 100}),
        }


@admin.register(_nql_models()[0])
class SavedQueryAdmin(admin.ModelAdmin):
    """Saved NQL queries: the NQL ID is fixed once saved; the text is validated on save."""

    form = SavedQueryForm
    list_display = ("nql_id_with_copy", "name", "parameters")
    list_display_links = ("name",)
    search_fields = ("nql_id", "name", "description", "text")
    search_help_text = "Search saved queries by NQL ID, name, description or text."
    ordering = ("nql_id",)
    list_per_page = 100

    def get_fields(self, request, obj=None):
        return ("nql_id", "name", "description", "text", "parameters")

    def get_readonly_fields(self, request, obj=None):
        return ("nql_id", "parameters") if obj is not None else ("parameters",)

    @admin.display(description="NQL ID", ordering="nql_id")
    def nql_id_with_copy(self, obj) -> str:
        return format_html(
            '<code class="nql-id">{}</code> <button type="button" class="button copy-nql-id" data-nql-id="{}" '
            'title="Copy the NQL ID" onclick="navigator.clipboard.writeText(this.dataset.nqlId)'
            ".then(() => {{ this.textContent = 'Copied'; }})\">Copy</button>",
            obj.nql_id, obj.nql_id,
        )

    @admin.display(description="parameters")
    def parameters(self, obj) -> str:
        from engine.query.errors import QueryError

        if obj is None or obj.pk is None:
            return "Listed once the query is saved."
        try:
            names = obj.parameter_names()
        except QueryError as error:
            return f"(the text is not valid NQL: {error.full_message})"
        return ", ".join(f"${name}" for name in dict.fromkeys(names)) or "—"


@admin.register(_nql_models()[1])
class NqlExportAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """Exports asked for through the NQL API (read-only: workers write them)."""

    list_display = ("id", "query_id", "status", "compression", "row_count", "created", "finished", "requested_by")
    list_filter = ("status", "compression")
    search_fields = ("id__exact", "query_id")
    search_help_text = "Search exports by export ID (exact) or query ID."
    list_select_related = ("requested_by",)
    ordering = ("-created",)



INVESTIGATION_ROWS = 1000


def investigations_view(request):
    """``/admin/investigations/``: type NQL, see the first rows, download the result as CSV.

    Runs with the account's view domain; refused to profiles with data privacy (the result shows
    every field as stored)."""
    from django.conf import settings
    from django.core.exceptions import PermissionDenied
    from django.http import StreamingHttpResponse
    from django.template.response import TemplateResponse

    from engine import exports, services
    from engine.query.errors import QueryError
    from engine.query.render import format_text

    if not (request.user.is_superuser or request.user.profile.administration):
        raise PermissionDenied  # staff without the administration right (docs/decisions.md, "Security")
    SavedQuery = _nql_models()[0]
    query = request.GET.get("query", "")
    context = {
        **admin.site.each_context(request),
        "title": "Investigations",
        "query": query,
        "saved_queries": [(saved.nql_id, saved.name, saved.text, urlencode({"query": saved.text}))
                          for saved in SavedQuery.objects.order_by("nql_id")],
        "max_rows": INVESTIGATION_ROWS,
    }
    if query.strip():
        privacy = Privacy.NONE if request.user.is_superuser else request.user.profile.data_privacy
        try:
            if privacy != Privacy.NONE:
                raise QueryError(f"your profile's data privacy ({privacy}) does not allow investigations")
            visibility = services.visibility_for(request.user, None)
            prepared = services.prepare_nql(query, visibility=visibility)
            if request.GET.get("format") == "csv":
                max_rows = int(settings.NQL_EXPORT_MAX_ROWS)
                result = services.execute(exports.limited(prepared.plan, max_rows))
                # Bounded by the plan's limit and read to the end (the cursor's transaction then ends).
                response = StreamingHttpResponse(exports.iter_csv(result.columns, result.rows),
                                                 content_type=exports.CSV_CONTENT_TYPE)
                response["Content-Disposition"] = 'attachment; filename="investigation.csv"'
                return response
            result = services.execute(exports.limited(prepared.plan, INVESTIGATION_ROWS + 1))
            rows = list(result.rows)
            context.update(
                columns=[column.name for column in result.columns],
                rows=[[format_text(value, column.type, hr=True) for value, column in zip(row, result.columns,
                                                                                          strict=True)]
                      for row in rows[:INVESTIGATION_ROWS]],
                truncated=len(rows) > INVESTIGATION_ROWS,
                executed_query=prepared.executed_query,
                csv_query=urlencode({"query": query, "format": "csv"}),
            )
        except QueryError as error:
            context["error"] = error.full_message
    return TemplateResponse(request, "admin/investigations.html", context)


def _admin_urls_with_investigations(get_urls=admin.site.get_urls):
    from django.urls import path

    return [path("investigations/", admin.site.admin_view(investigations_view), name="investigations"),
            *get_urls()]


admin.site.get_urls = _admin_urls_with_investigations
