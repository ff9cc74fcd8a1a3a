"""Exporter portal pages (exporters.md, "Portal pages (Django admin)").

- Connector credentials: write-only secrets, *Test connection* action.
- Data exporters: the list (recurrence, enabled, last run, next run), *New exporter* asking for the
  type first, the change form with General and Data tabs, payload content helpers shown live as the
  NQL is typed (``helpers/``), *Test load up to 20 records* on the form's current values, saved or
  not (``test-load/``), *Run now*, and a delete confirmation saying it cannot be undone.
- Exporter runs: the read-only run history, filtered per exporter from its change page.

The tabs, live helpers and test load are ``exporters/static/exporters/exporter_form.js`` on the
template ``admin/exporters/exporter/change_form.html``.
"""

from __future__ import annotations

import json
import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.db.models import Subquery
from django.forms.formsets import all_valid
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from engine.admin import human_bytes, human_duration
from engine.query.errors import QueryError
from portal.admin_mixins import ViewOnlyAdminMixin

from . import connectors, schedule, services
from .models import (
    MAX_QUERIES,
    ConnectorCredential,
    Exporter,
    ExporterQuery,
    ExporterRun,
    nql_problems,
)

logger = logging.getLogger(__name__)

SECRET_LABELS = {"password": "password", "token": "token", "client_secret": "client secret"}

# The exporter types *New exporter* offers (exporters.md: one type now).
HTTP_API = "http_api"
EXPORTER_TYPES = {
    HTTP_API: ("CMDB & Ops tools / HTTP API (Payload)",
               "Sends the rows of NQL queries as JSON payloads to a third-party tool's public API (a CMDB, "
               "SIEM, IT Ops, AI Ops, logging or monitoring tool), with Basic, Bearer or OAuth2 "
               "client-credentials authentication."),
}
NO_HELPERS_TEXT = "Type a query to see its columns."
EMPTY = "—"


def format_moment(value) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M UTC") if value else EMPTY


def short_moment(value, seconds: bool = False) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")) if value else EMPTY


def status_badge(status: str | None, text: str | None = None):
    if not status:
        return EMPTY
    return format_html('<span class="run-status run-status-{}">{}</span>', status, text or status)


# -- connector credentials -----------------------------------------------------------------------


class ConnectorCredentialForm(forms.ModelForm):
    """Secrets are write-only: never rendered back, and a blank field keeps the stored value."""

    class Meta:
        model = ConnectorCredential
        fields = ("name", "base_url", "allow_plain_http", "auth_type", "username", "password", "token",
                  "token_url", "client_id", "client_secret", "scope", "audience", "client_auth",
                  "extra_headers", "verify_tls", "ca_bundle_pem")
        widgets = {field: forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"})
                   for field in SECRET_LABELS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field, label in SECRET_LABELS.items():
            stored = bool(self.instance.pk and getattr(self.instance, field))
            self.fields[field].required = False
            self.fields[field].strip = False
            self.fields[field].help_text = (
                f"Stored (encrypted). Leave blank to keep the stored {label}; type a new one to replace it."
                if stored else "Not set. Stored encrypted; never shown again."
            )

    def _keep_secret(self, field: str) -> str:
        value = self.cleaned_data.get(field) or ""
        return value if value else (getattr(self.instance, field) or "")

    def clean_password(self) -> str:
        return self._keep_secret("password")

    def clean_token(self) -> str:
        return self._keep_secret("token")

    def clean_client_secret(self) -> str:
        return self._keep_secret("client_secret")

    def clean_extra_headers(self):
        return self.cleaned_data.get("extra_headers") or {}


@admin.register(ConnectorCredential)
class ConnectorCredentialAdmin(admin.ModelAdmin):
    form = ConnectorCredentialForm
    list_display = ("name", "base_url", "auth_type", "verify_tls", "updated")
    list_filter = ("auth_type",)
    search_fields = ("name", "base_url")
    search_help_text = "Search credentials by name or base URL."
    ordering = ("name",)
    actions = ("test_connection",)
    readonly_fields = ("secrets_status", "created", "updated")
    fieldsets = (
        (None, {"fields": ("name", "base_url", "allow_plain_http")}),
        ("Authentication", {
            "fields": ("auth_type", "secrets_status", "username", "password", "token", "token_url", "client_id",
                       "client_secret", "scope", "audience", "client_auth"),
            "description": "Basic needs user name and password; Bearer needs a token; OAuth2 client credentials "
                           "need token URL, client ID and client secret.",
        }),
        ("HTTP", {"fields": ("extra_headers", "verify_tls", "ca_bundle_pem")}),
        ("History", {"fields": ("created", "updated")}),
    )

    @admin.display(description="secrets")
    def secrets_status(self, obj: ConnectorCredential | None) -> str:
        if obj is None or obj.pk is None:
            return "None stored yet."
        return "; ".join(f"{label}: {'stored' if getattr(obj, field) else 'not set'}"
                         for field, label in SECRET_LABELS.items())

    @admin.action(description="Test connection", permissions=["view"])
    def test_connection(self, request, queryset):
        for credential in queryset:
            result = connectors.test_connection(credential)
            messages.add_message(request, messages.SUCCESS if result.ok else messages.ERROR, result.message)


# -- exporters -----------------------------------------------------------------------------------


def helpers_html(columns: list[str]):
    """The payload content helpers: ``{{column}}`` chips (the page's script makes them insert)."""
    return format_html_join(", ", "<code>{{{{{}}}}}</code>", ((name,) for name in columns))


class ExporterQueryInline(admin.StackedInline):
    model = ExporterQuery
    extra = 1
    min_num = 1
    max_num = MAX_QUERIES
    fields = ("position", "nql", "structure", "payload", "content_helpers")
    readonly_fields = ("content_helpers",)
    verbose_name = "query"
    verbose_name_plural = "Data: queries (at most 10)"
    template = "admin/exporters/exporter/query_inline.html"

    def get_extra(self, request, obj=None, **kwargs):
        return 0 if obj is not None and obj.pk is not None else 1  # an empty query row on new exporters only

    def get_formset(self, request, obj=None, **kwargs):
        # The admin does not pass validate_min/validate_max itself: at least one, at most 10 queries.
        return super().get_formset(request, obj, validate_min=True, validate_max=True, **kwargs)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        field = super().formfield_for_dbfield(db_field, request, **kwargs)
        if db_field.name in ("nql", "payload") and field is not None:
            field.widget.attrs.update({"rows": 5 if db_field.name == "nql" else 6, "spellcheck": "false",
                                       "class": f"vLargeTextField exporter-{db_field.name}"})
        return field

    @admin.display(description="payload content helpers")
    def content_helpers(self, obj: ExporterQuery | None):
        if obj is None or not obj.nql or not obj.nql.strip():
            return NO_HELPERS_TEXT
        try:
            columns = obj.output_columns()
        except QueryError as error:
            return format_html('<span class="helpers-error">The query is not valid: {}</span>', error.full_message)
        return helpers_html(columns)


@admin.register(Exporter)
class ExporterAdmin(admin.ModelAdmin):
    list_display = ("name", "recurrence_display", "enabled", "last_run", "next_run")
    list_display_links = ("name",)
    list_filter = ("enabled", "recurrence", "method")
    search_fields = ("name", "description", "resource")
    search_help_text = "Search exporters by name, description or resource."
    ordering = ("name",)
    readonly_fields = ("created", "updated", "last_run_detail", "next_run_detail", "watermark")
    inlines = (ExporterQueryInline,)
    actions = ("run_now",)
    fieldsets = (
        ("General", {"fields": ("name", "description", "credential", "method", "resource", "recurrence",
                                "every_hours", "weekday", "enabled")}),
        ("Options", {"fields": ("batch_size", "max_request_bytes", "max_attempts")}),
        ("Runs", {"fields": ("last_run_detail", "next_run_detail", "watermark")}),
        ("History", {"fields": ("created", "updated")}),
    )

    def get_fieldsets(self, request, obj=None):
        if obj is None or obj.pk is None:  # a new exporter has no runs and no history yet
            return [(name, options) for name, options in self.fieldsets if name not in ("Runs", "History")]
        return super().get_fieldsets(request, obj)

    # -- the list ----------------------------------------------------------------------------------

    def get_queryset(self, request):
        runs = services.last_run_of_each()
        return super().get_queryset(request).annotate(
            last_run_status=Subquery(runs.values("status")[:1]),
            last_run_started=Subquery(runs.values("started_at")[:1]),
            last_run_records=Subquery(runs.values("records_sent")[:1]),
        )

    @admin.display(description="recurrence", ordering="recurrence")
    def recurrence_display(self, obj: Exporter) -> str:
        if obj.recurrence == Exporter.HOURLY:
            every = obj.every_hours or 1
            return "Hourly" if every == 1 else f"Every {every} hours"
        if obj.recurrence == Exporter.DAILY:
            return "Daily at 00:00 UTC"
        if obj.recurrence == Exporter.WEEKLY:
            day = dict(Exporter.WEEKDAY_CHOICES).get(obj.weekday, "?")
            return f"Weekly on {day} at 00:00 UTC"
        return EMPTY

    @admin.display(description="last run", ordering="last_run_started")
    def last_run(self, obj: Exporter):
        status = getattr(obj, "last_run_status", None)
        if status is None:
            return mark_safe('<span class="run-none">never</span>')
        records = obj.last_run_records or 0
        return format_html("{} {} &middot; {} record{}", status_badge(status), format_moment(obj.last_run_started),
                           f"{records:,}", "" if records == 1 else "s")

    @admin.display(description="next run")
    def next_run(self, obj: Exporter) -> str:
        if not obj.enabled or not obj.recurrence:
            return EMPTY
        return format_moment(schedule.next_run_at(obj, timezone.now()))

    # -- read-only details on the form ---------------------------------------------------------------

    @admin.display(description="last run")
    def last_run_detail(self, obj: Exporter | None):
        if obj is None or obj.pk is None:
            return "Not saved yet."
        run = services.delivery_runs().filter(exporter=obj).first()
        runs_url = self.runs_url(obj)
        if run is None:
            return format_html('never &middot; <a href="{}">all runs</a>', runs_url)
        url = reverse("admin:exporters_exporterrun_change", args=[run.pk])
        return format_html('<a href="{}">{} {}</a> &middot; {} records &middot; <a href="{}">all runs</a>', url,
                           status_badge(run.status), format_moment(run.started_at), f"{run.records_sent:,}",
                           runs_url)

    @admin.display(description="next run")
    def next_run_detail(self, obj: Exporter | None) -> str:
        if obj is None or obj.pk is None:
            return "Not saved yet."
        if not obj.enabled:
            return f"{EMPTY} (disabled)"
        return format_moment(schedule.next_run_at(obj, timezone.now()))

    # -- pages ---------------------------------------------------------------------------------------

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("helpers/", wrap(self.helpers_view), name=f"{prefix}_helpers"),
            path("test-load/", wrap(self.test_load_view), name=f"{prefix}_test_load"),
            path("<path:object_id>/test-load/", wrap(self.test_load_view), name=f"{prefix}_test_load"),
            path("<path:object_id>/run/", wrap(self.run_now_view), name=f"{prefix}_run"),
            *super().get_urls(),
        ]

    def runs_url(self, obj: Exporter) -> str:
        return reverse("admin:exporters_exporterrun_changelist") + "?" + urlencode({"exporter__id__exact": obj.pk})

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Data exporters", **(extra_context or {})})

    def add_view(self, request, form_url="", extra_context=None):
        kind = request.GET.get("type")
        if request.method == "GET" and kind not in EXPORTER_TYPES and "_popup" not in request.GET:
            if not self.has_add_permission(request):
                raise PermissionDenied
            return self.choose_type_view(request)
        label = EXPORTER_TYPES[HTTP_API][0]
        return super().add_view(request, form_url, {"title": f"New exporter: {label}", **(extra_context or {})})

    def choose_type_view(self, request):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "New exporter",
            "subtitle": "Choose the type of exporter",
            "types": [(f"{reverse('admin:exporters_exporter_add')}?{urlencode({'type': key})}", label, text)
                      for key, (label, text) in EXPORTER_TYPES.items()],
        }
        return TemplateResponse(request, "admin/exporters/exporter/choose_type.html", context)

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.pop("type", None)
        return initial

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra = dict(extra_context or {})
        obj = self.get_object(request, unquote(object_id))
        if obj is not None:
            extra.update(runs_url=self.runs_url(obj), runs_count=obj.runs.count(),
                         run_now_url=reverse("admin:exporters_exporter_run", args=[obj.pk]))
        return super().change_view(request, object_id, form_url, extra)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        general_errors = bool(form.is_bound and form.errors)
        data_errors = any(inline.formset.is_bound and inline.formset.total_error_count()
                          for inline in context["inline_admin_formsets"])
        context.update(
            general_errors=general_errors,
            data_errors=data_errors,
            active_tab="data" if data_errors and not general_errors else "general",
            helpers_url=reverse("admin:exporters_exporter_helpers"),
            test_load_url=(reverse("admin:exporters_exporter_test_load", args=[obj.pk]) if obj is not None
                           and obj.pk is not None else reverse("admin:exporters_exporter_test_load")),
            can_test_load=self.has_change_permission(request, obj) if obj is not None and obj.pk is not None
            else self.has_add_permission(request),
        )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # -- JSON views ------------------------------------------------------------------------------------

    def helpers_view(self, request):
        """``GET helpers/?nql=…[&recurrence=…&every_hours=…]``: the query's output columns (the payload
        content helpers) or why it is not valid, and time-frame problems for that recurrence."""
        if not (self.has_view_or_change_permission(request) or self.has_add_permission(request)):
            return JsonResponse({"error": "You do not have the right to configure exporters."}, status=403)
        nql = request.GET.get("nql", "")
        answer = {"columns": [], "placeholders": [], "error": None, "warnings": []}
        if not nql.strip():
            return JsonResponse(answer)
        recurrence = request.GET.get("recurrence", "")
        exporter = None
        if recurrence in dict(Exporter.RECURRENCE_CHOICES):
            every = request.GET.get("every_hours", "")
            exporter = Exporter(recurrence=recurrence, every_hours=int(every) if every.isdigit() else None)
        columns, problems = nql_problems(nql, exporter)
        if columns is None:
            answer["error"] = problems[0]
            return JsonResponse(answer)
        answer["columns"] = columns
        answer["placeholders"] = ["{{" + name + "}}" for name in columns]
        answer["warnings"] = problems
        return JsonResponse(answer)

    def test_load_view(self, request, object_id=None):
        """``POST [<id>/]test-load/`` with the form's fields: validates them exactly as *Save* would (the
        admin's form and query formset), then sends at most 20 records per query. Nothing is saved but
        the test run row."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = None
        if object_id is not None:
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                raise Http404("No such exporter.")
            allowed = self.has_change_permission(request, obj)
        else:
            allowed = self.has_add_permission(request)
        if not allowed:
            return JsonResponse({"ok": False, "message": "You do not have the right to test this exporter."},
                                status=403)
        change = obj is not None
        fieldsets = self.get_fieldsets(request, obj)
        ModelForm = self.get_form(request, obj, change=change, fields=flatten_fieldsets(fieldsets))
        form = ModelForm(request.POST, request.FILES, instance=obj)
        formsets, _inlines = self._create_formsets(request, form.instance, change=change)
        form_valid = form.is_valid()
        if not (all_valid(formsets) and form_valid):
            return JsonResponse({
                "ok": False,
                "message": "The test load was not run: correct the errors below (the same ones Save reports).",
                "errors": form_errors(form, formsets),
            }, status=400)
        exporter = form.instance
        queries = []
        for formset in formsets:
            for query_form in formset.forms:
                if query_form in formset.deleted_forms or (query_form.instance.pk is None
                                                           and not query_form.has_changed()):
                    continue
                queries.append(query_form.instance)
        queries.sort(key=lambda query: query.position)
        try:
            load = services.test_load(exporter, queries)
        except Exception as error:  # the page shows it; the worker log has the rest
            logger.exception("Test load of exporter %r failed.", exporter.name)
            return JsonResponse({"ok": False, "message": f"The test load failed: {error}"}, status=502)
        outcomes = [{"query": index, **outcome.as_json()} for index, outcome in enumerate(load.queries, start=1)]
        records = sum(outcome.records for outcome in load.queries)
        ok = load.run.status == ExporterRun.SUCCESS
        message = (f"Test load done: {records} record{'s' if records != 1 else ''} sent to the destination "
                   f"({len(outcomes)} quer{'ies' if len(outcomes) != 1 else 'y'}, at most "
                   f"{services.TEST_LOAD_RECORDS} records each)." if ok else
                   f"Test load failed: {records} record{'s' if records != 1 else ''} sent; see the errors below.")
        return JsonResponse({
            "ok": ok,
            "message": message,
            "queries": outcomes,
            "run": {"uid": str(load.run.uid), "status": load.run.status,
                    "url": reverse("admin:exporters_exporterrun_change", args=[load.run.pk])},
        })

    def run_now_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404("No such exporter.")
        if not self.has_change_permission(request, obj):
            raise PermissionDenied
        self._queue(request, [obj])
        return HttpResponseRedirect(self.runs_url(obj))

    @admin.action(description="Run now", permissions=["change"])
    def run_now(self, request, queryset):
        self._queue(request, list(queryset))

    def _queue(self, request, exporters: list[Exporter]) -> None:
        for exporter in exporters:
            try:
                services.queue_run(exporter, ExporterRun.MANUAL)
            except Exception as error:
                logger.exception("Could not queue a run of exporter %r.", exporter.name)
                messages.error(request, f"Could not queue a run of “{exporter.name}”: {error}")
            else:
                messages.success(request, f"A run of “{exporter.name}” was queued; it appears in its runs "
                                          "when a worker starts it.")


def form_errors(form, formsets) -> list[dict]:
    """The form's and the query formsets' errors, each with where it is (tab, query, field label)."""
    found: list[dict] = []

    def label_of(a_form, name: str) -> str:
        if name == NON_FIELD_ERRORS:
            return ""
        field = a_form.fields.get(name)
        return str(field.label) if field is not None and field.label else name.replace("_", " ").capitalize()

    for name, errors in form.errors.items():
        found.append({"tab": "general", "field": name, "label": label_of(form, name), "messages": list(errors)})
    for formset in formsets:
        for message in formset.non_form_errors():
            found.append({"tab": "data", "field": "queries", "label": "Queries", "messages": [message]})
        number = 0
        for query_form in formset.forms:
            if query_form in getattr(formset, "deleted_forms", []):
                continue
            number += 1
            for name, errors in query_form.errors.items():
                label = label_of(query_form, name)
                found.append({"tab": "data", "field": f"{query_form.prefix}-{name}",
                              "label": f"Query {number}" + (f", {label}" if label else ""),
                              "messages": list(errors)})
    return found


# -- runs ----------------------------------------------------------------------------------------


@admin.register(ExporterRun)
class ExporterRunAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    """The run history: read-only; a running run's figures grow while it sends."""

    list_display = ("exporter_name", "trigger", "status_display", "window", "records", "batches",
                    "bytes_display", "attempts", "started", "duration", "last_status")
    list_filter = ("status", "trigger", "exporter")
    search_fields = ("exporter_name",)
    search_help_text = "Search runs by exporter name."
    ordering = ("-started_at", "-id")
    list_per_page = 50
    fieldsets = (
        (None, {"fields": ("exporter_link", "exporter_name", "trigger", "status_display", "redo_of")}),
        ("Window", {"fields": ("window_start", "window_end")}),
        ("Progress", {"fields": ("records_sent", "batches_sent", "bytes_display", "attempts")}),
        ("Timing", {"fields": ("started_at", "finished_at", "duration")}),
        ("Destination", {"fields": ("last_status", "last_error_display", "results_display")}),
    )
    readonly_fields = ("exporter_link", "status_display", "bytes_display", "duration", "last_error_display",
                       "results_display")

    deletable = False

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {"title": "Exporter runs", **(extra_context or {})})

    @admin.display(description="status", ordering="status")
    def status_display(self, run: ExporterRun):
        return status_badge(run.status)

    @admin.display(description="window (UTC)")
    def window(self, run: ExporterRun) -> str:
        if run.window_start is None and run.window_end is None:
            return EMPTY
        return f"{short_moment(run.window_start)} → {short_moment(run.window_end)}"

    @admin.display(description="records", ordering="records_sent")
    def records(self, run: ExporterRun) -> str:
        return f"{run.records_sent:,}"

    @admin.display(description="batches", ordering="batches_sent")
    def batches(self, run: ExporterRun) -> str:
        return f"{run.batches_sent:,}"

    @admin.display(description="started (UTC)", ordering="started_at")
    def started(self, run: ExporterRun) -> str:
        return short_moment(run.started_at, seconds=True)

    @admin.display(description="bytes", ordering="bytes_sent")
    def bytes_display(self, run: ExporterRun) -> str:
        return human_bytes(run.bytes_sent)

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, run: ExporterRun) -> str:
        if run.duration_ms is None:
            return "running" if run.status == ExporterRun.RUNNING else EMPTY
        return human_duration(run.duration_ms)

    @admin.display(description="exporter")
    def exporter_link(self, run: ExporterRun):
        if run.exporter_id is None:
            return f"{run.exporter_name} (deleted or never saved)"
        return format_html('<a href="{}">{}</a>', reverse("admin:exporters_exporter_change", args=[run.exporter_id]),
                           run.exporter_name)

    @admin.display(description="last error")
    def last_error_display(self, run: ExporterRun):
        if not run.last_error:
            return EMPTY
        return format_html('<pre class="run-error">{}</pre>', run.last_error)

    @admin.display(description="results")
    def results_display(self, run: ExporterRun):
        if not run.results:
            return EMPTY
        return format_html('<pre class="run-results">{}</pre>', json.dumps(run.results, indent=2, ensure_ascii=False))
