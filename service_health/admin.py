"""Services in the portal (administrators): the service, its thresholds and consumers, and its
definition as inlines — destinations and ports (connection services), domains with URL path prefixes
(web services), executables (optional, both types).

The inlines check the definition against the type chosen on the same page: a connection service
needs a destination and a port and has no domains; a web service needs a domain and has no
destinations or ports. Consumers limited to entities need at least one entity.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from .dashboard import dashboard_view
from .models import Service, ServiceDestination, ServiceDomain, ServiceExecutable, ServicePort


class ServiceForm(forms.ModelForm):
    class Meta:
        model = Service
        fields = ("name", "description", "type", "warning_threshold", "error_threshold", "slow_response_threshold",
                  "all_devices", "consumer_entities")

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("all_devices") is False and not cleaned.get("consumer_entities"):
            self.add_error("consumer_entities",
                           "Choose the entities whose devices use the service, or tick “consumed by all devices”.")
        return cleaned


class DefinitionFormSet(BaseInlineFormSet):
    """Checks that the rows of one kind of definition fit the service's type (set on the same page)."""

    # Per type: "required" (at least one row), "allowed" or "refused".
    rules: dict[str, str] = {}
    required_message = ""
    refused_message = ""

    def clean(self):
        super().clean()
        service_type = getattr(self.instance, "type", None)
        rule = self.rules.get(service_type, "allowed")
        rows = [form for form in self.forms
                if form.cleaned_data and not form.cleaned_data.get("DELETE", False)]
        if rule == "required" and not rows:
            raise ValidationError(self.required_message)
        if rule == "refused" and rows:
            raise ValidationError(self.refused_message)


class DestinationFormSet(DefinitionFormSet):
    rules = {Service.Type.CONNECTION: "required", Service.Type.WEB: "refused"}
    required_message = "A connection service needs at least one destination (host name, IP address or network)."
    refused_message = "Web services are defined by domains: remove the destinations."


class PortFormSet(DefinitionFormSet):
    rules = {Service.Type.CONNECTION: "required", Service.Type.WEB: "refused"}
    required_message = "A connection service needs at least one port."
    refused_message = "Web services are defined by domains: remove the ports."


class DomainFormSet(DefinitionFormSet):
    rules = {Service.Type.WEB: "required", Service.Type.CONNECTION: "refused"}
    required_message = "A web service needs at least one domain."
    refused_message = "Connection services are defined by destinations and ports: remove the domains."


class DestinationInline(admin.TabularInline):
    model = ServiceDestination
    formset = DestinationFormSet
    fields = ("value",)
    extra = 1
    verbose_name_plural = "destinations (connection services: host names, *.domain, IP addresses or CIDR networks)"


class PortInline(admin.TabularInline):
    model = ServicePort
    formset = PortFormSet
    fields = ("port_number", "protocol")
    extra = 1
    verbose_name_plural = "ports (connection services)"


class DomainInline(admin.TabularInline):
    model = ServiceDomain
    formset = DomainFormSet
    fields = ("domain", "path_prefix")
    extra = 1
    verbose_name_plural = "web domains (web services), optionally limited to URL path prefixes"


class ExecutableInline(admin.TabularInline):
    model = ServiceExecutable
    fields = ("name",)
    extra = 0
    verbose_name_plural = "executables (optional: only the activity of these binaries counts)"


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    form = ServiceForm
    fieldsets = (
        (None, {"fields": ("name", "uid", "description", "type")}),
        ("Status thresholds", {
            "fields": ("warning_threshold", "error_threshold", "slow_response_threshold"),
            "description": "A node is yellow from the warning threshold of devices with issues, red from the "
                           "error threshold. Web requests slower than the slow-response threshold are issues.",
        }),
        ("Consumers", {"fields": ("all_devices", "consumer_entities")}),
        ("Dates", {"fields": ("created", "updated"), "classes": ("collapse",)}),
    )
    readonly_fields = ("uid", "created", "updated")
    filter_horizontal = ("consumer_entities",)
    inlines = (DestinationInline, PortInline, DomainInline, ExecutableInline)
    list_display = ("name", "type", "uid", "warning_threshold", "error_threshold", "consumers", "overview", "dashboard")
    list_filter = ("type", "all_devices")
    search_fields = ("name", "description", "uid")
    search_help_text = "Search services by name, description or UID."
    ordering = ("name",)
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("consumer_entities")

    @admin.display(description="consumers")
    def consumers(self, obj: Service) -> str:
        if obj.all_devices:
            return "all devices"
        return ", ".join(entity.name for entity in obj.consumer_entities.all()) or "—"

    @admin.display(description="Services API")
    def overview(self, obj: Service) -> str:
        url = reverse("service-health-api:overview") + "?" + urlencode({"metric": str(obj.uid), "format": "table"})
        return format_html('<a href="{}">overview</a>', url)

    @admin.display(description="dashboard")
    def dashboard(self, obj: Service) -> str:
        url = reverse("admin:service_health_service_dashboard", args=[obj.pk])
        return format_html('<a href="{}" class="dashboardlink">dashboard</a>', url)

    def get_urls(self):
        """The service dashboard (``service_health.dashboard``), then the admin's own pages."""
        view = self.admin_site.admin_view(lambda request, object_id: dashboard_view(self, request, object_id))
        return [path("<path:object_id>/dashboard/", view, name="service_health_service_dashboard"),
                *super().get_urls()]
