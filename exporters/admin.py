from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html_join

from engine.query.errors import QueryError

from . import connectors
from .models import MAX_QUERIES, ConnectorCredential, Exporter, ExporterQuery

SECRET_LABELS = {"password": "password", "token": "token", "client_secret": "client secret"}


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


class ExporterQueryInline(admin.StackedInline):
    model = ExporterQuery
    extra = 1
    min_num = 1
    max_num = MAX_QUERIES
    fields = ("position", "nql", "structure", "payload", "content_helpers")
    readonly_fields = ("content_helpers",)
    verbose_name = "query"
    verbose_name_plural = "Data: queries (at most 10)"

    def get_formset(self, request, obj=None, **kwargs):
        # The admin does not pass validate_min/validate_max itself: at least one, at most 10 queries.
        return super().get_formset(request, obj, validate_min=True, validate_max=True, **kwargs)

    @admin.display(description="payload content helpers")
    def content_helpers(self, obj: ExporterQuery | None) -> str:
        if obj is None or obj.pk is None or not obj.nql:
            return "The query's columns are shown here after saving."
        try:
            columns = obj.output_columns()
        except QueryError as error:
            return f"The query is not valid: {error.full_message}"
        return format_html_join(", ", "<code>{{{{{}}}}}</code>", ((name,) for name in columns))


@admin.register(Exporter)
class ExporterAdmin(admin.ModelAdmin):
    list_display = ("name", "credential", "method", "resource", "recurrence", "enabled", "updated")
    list_filter = ("enabled", "recurrence", "method")
    search_fields = ("name", "description", "resource")
    search_help_text = "Search exporters by name, description or resource."
    ordering = ("name",)
    readonly_fields = ("created", "updated")
    inlines = (ExporterQueryInline,)
    fieldsets = (
        ("General", {"fields": ("name", "description", "credential", "method", "resource", "recurrence",
                                "every_hours", "weekday", "enabled")}),
        ("Options", {"fields": ("batch_size", "max_request_bytes", "max_attempts")}),
        ("History", {"fields": ("created", "updated")}),
    )
