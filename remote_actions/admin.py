"""Remote actions in the portal: configuration, the "Run on devices…" action, requests and executions."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.utils.html import format_html

from engine.models import Device
from portal.admin_mixins import ViewOnlyAdminMixin
from remote_actions import services
from remote_actions.models import (
    DeviceEnrollment,
    Execution,
    Purpose,
    RemoteAction,
    RemoteActionInput,
    RemoteActionOutput,
    Request,
    TriggerMethod,
)


class RemoteActionForm(forms.ModelForm):
    purpose = forms.MultipleChoiceField(
        choices=Purpose.choices, widget=forms.CheckboxSelectMultiple, required=False
    )

    class Meta:
        model = RemoteAction
        fields = ("name", "nql_id", "description", "origin", "built_in_content_version", "purpose", "enabled",
                  "api_enabled", "manual_enabled", "workflow_enabled", "manual_allow_multiple_devices", "run_as",
                  "execution_service_delegate", "timeout_seconds", "windows_script", "macos_script")


class InputInline(admin.TabularInline):
    model = RemoteActionInput
    extra = 0
    fields = ("name", "description", "used_by_windows", "used_by_macos", "options", "allow_custom_value",
              "default_value")


class OutputInline(admin.TabularInline):
    model = RemoteActionOutput
    extra = 0
    fields = ("name", "type", "description", "used_by_windows", "used_by_macos")


class RunOnDevicesForm(forms.Form):
    devices = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "cols": 60}),
        help_text="One device per line: its name, device UID or collector UID.",
    )
    params = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 60}),
        help_text="One input per line as Name=value; inputs left out take their default value.",
    )
    expires_in_minutes = forms.IntegerField(
        min_value=services.MIN_EXPIRES_IN_MINUTES, max_value=services.MAX_EXPIRES_IN_MINUTES,
        initial=services.DEFAULT_EXPIRES_IN_MINUTES,
    )
    reason = forms.CharField(required=False, max_length=500)

    def clean_devices(self) -> list[Device]:
        keys = [line.strip() for line in self.cleaned_data["devices"].splitlines() if line.strip()]
        found = list(Device.objects.filter(
            Q(name__in=keys) | Q(device_uid__in=[k.lower() for k in keys]) | Q(collector_uid__in=keys)
        ).only("pk", "platform", "name", "device_uid", "collector_uid"))
        known = {d.name for d in found} | {d.device_uid for d in found} | {d.collector_uid for d in found}
        unknown = [k for k in keys if k not in known and k.lower() not in known]
        if unknown:
            raise forms.ValidationError(f"Unknown devices: {', '.join(unknown[:20])}")
        return found

    def clean_params(self) -> dict[str, str]:
        params = {}
        for line in self.cleaned_data["params"].splitlines():
            if not line.strip():
                continue
            if "=" not in line:
                raise forms.ValidationError(f"Not Name=value: {line}")
            name, value = line.split("=", 1)
            params[name.strip()] = value.strip()
        return params


@admin.register(RemoteAction)
class RemoteActionAdmin(admin.ModelAdmin):
    form = RemoteActionForm
    inlines = (InputInline, OutputInline)
    list_display = ("name", "nql_id_with_copy", "purpose_text", "enabled", "api_enabled", "manual_enabled",
                    "has_script_windows", "has_script_macos", "origin")
    list_filter = ("enabled", "api_enabled", "manual_enabled", "origin")
    search_fields = ("name", "nql_id", "uid", "description")
    readonly_fields = ("uid",)
    actions = ("run_on_devices",)
    fieldsets = (
        (None, {"fields": ("name", "nql_id", "uid", "description", "origin", "built_in_content_version",
                           "purpose", "enabled")}),
        ("Targeting", {"fields": ("api_enabled", "manual_enabled", "workflow_enabled",
                                  "manual_allow_multiple_devices")}),
        ("Script", {"fields": ("run_as", "execution_service_delegate", "timeout_seconds", "windows_script",
                               "macos_script")}),
    )

    @admin.display(description="NQL ID", ordering="nql_id")
    def nql_id_with_copy(self, obj: RemoteAction):
        return format_html(
            '<code>{}</code> <button type="button" class="button" title="Copy NQL ID" '
            "onclick=\"navigator.clipboard.writeText(this.dataset.nqlId)\" data-nql-id=\"{}\">Copy</button>",
            obj.nql_id, obj.nql_id,
        )

    @admin.display(description="Windows", boolean=True)
    def has_script_windows(self, obj: RemoteAction) -> bool:
        return obj.has_script_windows

    @admin.display(description="macOS", boolean=True)
    def has_script_macos(self, obj: RemoteAction) -> bool:
        return obj.has_script_macos

    @admin.action(description="Run on devices…")
    def run_on_devices(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one remote action to run.", messages.ERROR)
            return None
        action = queryset.get()
        if not action.enabled or not action.manual_enabled:
            self.message_user(request, f"{action} is not enabled for manual runs.", messages.ERROR)
            return None
        form = RunOnDevicesForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            devices = form.cleaned_data["devices"]
            if len(devices) > 1 and not action.manual_allow_multiple_devices:
                form.add_error("devices", f"{action} runs on one device at a time.")
            else:
                try:
                    run = services.create_request(
                        action, devices, form.cleaned_data["params"], TriggerMethod.MANUAL,
                        form.cleaned_data["expires_in_minutes"],
                        services.TriggerInfo(reason=form.cleaned_data["reason"],
                                             requested_by=request.user.get_username()),
                    )
                except services.RemoteActionError as error:
                    form.add_error(None, error.message)
                else:
                    self.message_user(request, f"Request {run.pk} created for {len(devices)} device(s).")
                    return None
        return TemplateResponse(request, "admin/remote_actions/run_on_devices.html", {
            **self.admin_site.each_context(request), "title": f"Run {action} on devices", "form": form,
            "action": action, "opts": self.model._meta, "selected": action.pk,
            "inputs": action.inputs.all(),
        })


class ReadOnlyAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    def has_cancel_permission(self, request) -> bool:
        return request.user.has_perm("remote_actions.change_execution")


@admin.register(Request)
class RequestAdmin(ReadOnlyAdmin):
    list_display = ("id", "remote_action", "trigger_method", "created", "expires_at", "external_source",
                    "external_reference", "requested_by", "number_of_executions")
    list_filter = ("trigger_method", "remote_action")
    search_fields = ("id", "external_reference", "external_source", "requested_by")
    list_select_related = ("remote_action",)
    actions = ("cancel_pending",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(execution_count=Count("executions"))

    @admin.display(description="executions", ordering="execution_count")
    def number_of_executions(self, obj: Request) -> int:
        return obj.execution_count

    @admin.action(description="Cancel pending executions", permissions=["cancel"])
    def cancel_pending(self, request, queryset):
        count = services.cancel(Execution.objects.filter(request__in=queryset))
        self.message_user(request, f"{count} execution(s) cancelled.")


@admin.register(Execution)
class ExecutionAdmin(ReadOnlyAdmin):
    list_display = ("id", "remote_action", "device", "status", "status_details", "time", "trigger_method",
                    "request_uid")
    list_filter = ("status", "trigger_method", "remote_action")
    search_fields = ("request_uid", "device__name", "external_reference")
    list_select_related = ("remote_action", "device")
    actions = ("cancel_pending",)

    @admin.action(description="Cancel pending executions", permissions=["cancel"])
    def cancel_pending(self, request, queryset):
        count = services.cancel(queryset)
        self.message_user(request, f"{count} execution(s) cancelled.")


@admin.register(DeviceEnrollment)
class DeviceEnrollmentAdmin(admin.ModelAdmin):
    list_display = ("device", "enrolled_at", "revoked", "simulated")
    list_filter = ("revoked", "simulated")
    search_fields = ("device__name",)
    list_select_related = ("device",)
    fields = ("device", "enrolled_at", "revoked", "simulated")
    readonly_fields = ("device", "enrolled_at", "simulated")
    actions = ("revoke",)

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Revoke (the collector must enroll again)")
    def revoke(self, request, queryset):
        self.message_user(request, f"{queryset.update(revoked=True)} enrollment(s) revoked.")
