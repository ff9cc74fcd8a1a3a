"""The configuration portal: accounts and profiles, hierarchies, platform settings, API credentials.

Rights come from profiles (platform.md): an account's staff flag follows its profile's
``administration`` right, so the account pages show it read-only, and groups and per-account
permissions are not offered.
"""

from __future__ import annotations

import oauth2_provider.admin  # noqa: F401  (registers the toolkit's admins before we replace them)
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import (
    get_access_token_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)
from oauth2_provider.settings import oauth2_settings

from portal.admin_mixins import ViewOnlyAdminMixin
from portal.models import (
    Account,
    ApiCredential,
    AuthenticationFailure,
    Entity,
    Hierarchy,
    HierarchyLevel,
    HierarchyNode,
    PlatformSettings,
    Profile,
)

# Node labels walk up the parents; this many levels come with the node in one query.
NODE_PATH_RELATED = ("hierarchy", "level", "entity", "parent__parent__parent")


def changelist_link(model, label, **filters) -> str:
    """A link to ``model``'s admin list, filtered by ``filters`` (field lookups)."""
    opts = model._meta
    url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    if filters:
        url += "?" + urlencode(filters)
    return format_html('<a href="{}">{}</a>', url, label)


# -- Profiles -----------------------------------------------------------------------------------


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    fieldsets = (
        (None, {"fields": ("name", "description")}),
        (
            "Access",
            {"fields": ("finder_access", "allow_remote_action_api", "can_edit_categories", "administration")},
        ),
        (
            "Data",
            {
                "fields": ("data_privacy", "view_domain"),
                "description": "What the accounts of this profile may see of the Engine's data.",
            },
        ),
    )
    list_display = (
        "name",
        "finder",
        "remote_action_api",
        "edit_categories",
        "admin_right",
        "data_privacy",
        "view_domain",
        "number_of_accounts",
    )
    list_filter = (
        "finder_access",
        "allow_remote_action_api",
        "can_edit_categories",
        "administration",
        "data_privacy",
        ("view_domain", admin.EmptyFieldListFilter),
    )
    list_select_related = ("view_domain__parent__parent__parent",)
    search_fields = ("name",)
    search_help_text = "Search profiles by name."
    autocomplete_fields = ("view_domain",)
    radio_fields = {"data_privacy": admin.VERTICAL}
    ordering = ("name",)
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(account_count=Count("accounts"))

    @admin.display(description="finder access", boolean=True, ordering="finder_access")
    def finder(self, obj: Profile) -> bool:
        return obj.finder_access

    @admin.display(description="remote action API", boolean=True, ordering="allow_remote_action_api")
    def remote_action_api(self, obj: Profile) -> bool:
        return obj.allow_remote_action_api

    @admin.display(description="edit categories", boolean=True, ordering="can_edit_categories")
    def edit_categories(self, obj: Profile) -> bool:
        return obj.can_edit_categories

    @admin.display(description="administration", boolean=True, ordering="administration")
    def admin_right(self, obj: Profile) -> bool:
        return obj.administration

    @admin.display(description="accounts", ordering="account_count")
    def number_of_accounts(self, obj: Profile):
        return changelist_link(Account, obj.account_count, profile__id__exact=obj.pk)


# -- Accounts -----------------------------------------------------------------------------------

STAFF_HELP = (
    "Derived from the profile: accounts whose profile has the Administration right may sign in to "
    "this portal. Change the profile, or its rights, to change it (superusers keep theirs)."
)


class AccountCreationForm(AdminUserCreationForm):
    class Meta(AdminUserCreationForm.Meta):
        model = Account
        fields = ("username", "profile")


class AccountChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = Account
        help_texts = {
            "is_staff": STAFF_HELP,
            "profile": "The account's rights. Several accounts may share a profile.",
        }


@admin.register(Account)
class AccountAdmin(UserAdmin):
    form = AccountChangeForm
    add_form = AccountCreationForm
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "email")}),
        (
            "Rights",
            {
                "fields": ("profile", "is_active", "is_staff", "is_superuser"),
                "description": "Rights come from the profile; superusers have every right.",
            },
        ),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "profile", "usable_password", "password1", "password2"),
            },
        ),
    )
    list_display = ("username", "full_name", "profile", "is_active", "last_login")
    list_filter = ("profile", "is_active", "is_superuser")
    list_select_related = ("profile",)
    search_fields = ("username", "first_name", "last_name", "email")
    search_help_text = "Search accounts by user name, first or last name, or email address."
    readonly_fields = ("is_staff", "last_login", "date_joined")
    filter_horizontal = ()
    ordering = ("username",)
    list_per_page = 50

    @admin.display(description="full name", ordering="last_name")
    def full_name(self, obj: Account) -> str:
        return obj.get_full_name()

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            # Only a superuser makes superusers.
            readonly += ("is_superuser",)
        return readonly

    def has_change_permission(self, request, obj=None):
        # An administrator who is not a superuser cannot take over a superuser's account
        # (password, profile, activity).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)


# Rights come from profiles: groups would be a second, unused way of granting them.
if admin.site.is_registered(Group):
    admin.site.unregister(Group)


# -- Hierarchies and entities --------------------------------------------------------------------


class HierarchyLevelInline(admin.TabularInline):
    model = HierarchyLevel
    fields = ("name", "depth")
    extra = 1
    ordering = ("depth",)
    verbose_name_plural = "levels (depth 0 is the top; the deepest level holds the entities)"


class HierarchyNodeInlineFormSet(BaseInlineFormSet):
    """Offers only the levels and parent nodes of the hierarchy being edited."""

    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "level" in form.fields:
            form.fields["level"].queryset = HierarchyLevel.objects.filter(hierarchy=self.instance.pk)
        if "parent" in form.fields:
            form.fields["parent"].queryset = HierarchyNode.objects.filter(
                hierarchy=self.instance.pk
            ).select_related(*NODE_PATH_RELATED)


class HierarchyNodeInline(admin.TabularInline):
    model = HierarchyNode
    formset = HierarchyNodeInlineFormSet
    fields = ("level", "parent", "name", "entity")
    autocomplete_fields = ("entity",)
    extra = 1
    verbose_name_plural = "nodes (nodes of the base level stand for an entity)"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*NODE_PATH_RELATED)


class HierarchyForm(forms.ModelForm):
    """The position may be left empty (0: listed by name among the others at 0)."""

    class Meta:
        model = Hierarchy
        fields = ("name", "description", "position")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["position"].required = False

    def clean_position(self) -> int:
        return self.cleaned_data.get("position") or 0


@admin.register(Hierarchy)
class HierarchyAdmin(admin.ModelAdmin):
    form = HierarchyForm
    list_display = ("name", "position", "description", "number_of_levels", "number_of_nodes")
    list_editable = ("position",)
    search_fields = ("name", "description")
    search_help_text = "Search hierarchies by name or description."
    ordering = ("position", "name")
    list_per_page = 50

    def get_inlines(self, request, obj):
        # Nodes need the hierarchy's levels: they are added once the hierarchy exists.
        return [HierarchyLevelInline, HierarchyNodeInline] if obj is not None else [HierarchyLevelInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            level_count=Count("levels", distinct=True), node_count=Count("nodes", distinct=True)
        )

    def response_add(self, request, obj, post_url_continue=None):
        # A new hierarchy has levels only: "Save" goes on to its page, where the nodes are added.
        if "_save" in request.POST:
            request.POST = request.POST.copy()
            request.POST["_continue"] = "1"
        return super().response_add(request, obj, post_url_continue)

    @admin.display(description="levels", ordering="level_count")
    def number_of_levels(self, obj: Hierarchy) -> int:
        return obj.level_count

    @admin.display(description="nodes", ordering="node_count")
    def number_of_nodes(self, obj: Hierarchy):
        return changelist_link(HierarchyNode, obj.node_count, hierarchy__id__exact=obj.pk)


@admin.register(HierarchyLevel)
class HierarchyLevelAdmin(admin.ModelAdmin):
    list_display = ("name", "hierarchy", "depth", "number_of_nodes")
    list_filter = ("hierarchy",)
    list_select_related = ("hierarchy",)
    search_fields = ("name", "hierarchy__name")
    search_help_text = "Search levels by name or hierarchy name."
    ordering = ("hierarchy__name", "depth")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(node_count=Count("nodes"))

    @admin.display(description="nodes", ordering="node_count")
    def number_of_nodes(self, obj: HierarchyLevel):
        return changelist_link(HierarchyNode, obj.node_count, level__id__exact=obj.pk)


@admin.register(HierarchyNode)
class HierarchyNodeAdmin(admin.ModelAdmin):
    fields = ("hierarchy", "level", "parent", "name", "entity")
    list_display = ("path", "level", "entity")
    list_filter = ("hierarchy", "level")
    list_select_related = NODE_PATH_RELATED
    search_fields = ("name", "hierarchy__name", "entity__name")
    search_help_text = "Search nodes by name, hierarchy name or entity name."
    autocomplete_fields = ("parent", "entity")
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).select_related(*NODE_PATH_RELATED)

    @admin.display(description="path", ordering="name")
    def path(self, obj: HierarchyNode) -> str:
        return f"{obj.hierarchy.name}: {obj}"


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    fields = ("name", "hierarchy_nodes")
    readonly_fields = ("hierarchy_nodes",)
    list_display = ("name", "number_of_devices")
    search_fields = ("name",)
    search_help_text = "Search entities by name."
    ordering = ("name",)
    list_per_page = 100

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(device_count=Count("devices"))

    @admin.display(description="devices", ordering="device_count")
    def number_of_devices(self, obj: Entity):
        from engine.models import Device

        return changelist_link(Device, obj.device_count, entity__id__exact=obj.pk)

    @admin.display(description="in hierarchies")
    def hierarchy_nodes(self, obj: Entity):
        if obj.pk is None:
            return "—"
        nodes = obj.nodes.select_related(*NODE_PATH_RELATED)
        return format_html_join(mark_safe("<br>"), "{}: {}", ((n.hierarchy.name, n) for n in nodes)) or "—"


# -- Platform settings (singleton) --------------------------------------------------------------


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(admin.ModelAdmin):
    fieldsets = (
        ("Web API V2", {"fields": ("web_api_licensed",)}),
        ("Services API", {"fields": ("services_api_enabled", "services_api_status")}),
        ("Act API", {"fields": ("act_default_timeout_seconds", "act_max_devices")}),
    )
    readonly_fields = ("services_api_status",)

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not PlatformSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        settings_row = PlatformSettings.load()
        return HttpResponseRedirect(reverse("admin:portal_platformsettings_change", args=[settings_row.pk]))

    def response_post_save_change(self, request, obj):
        return HttpResponseRedirect(reverse("admin:portal_platformsettings_change", args=[obj.pk]))

    def response_post_save_add(self, request, obj):
        return self.response_post_save_change(request, obj)

    @admin.display(description="Services API now")
    def services_api_status(self, obj: PlatformSettings) -> str:
        if obj.pk is None:
            return "—"
        if obj.services_api_active and not obj.services_api_enabled:
            return "Enabled by the environment (OPENDEX_SERVICES_API=true)"
        return "Enabled" if obj.services_api_active else "Disabled"


# -- API credentials (OAuth 2.0 client credentials) ----------------------------------------------


def scope_choices() -> list[tuple[str, str]]:
    return [(scope, f"{scope} — {label}") for scope, label in oauth2_settings.SCOPES.items()]


SECRET_ONCE = (
    "Client secret of “{name}”: {secret} — copy it now: it is stored hashed and will not be shown again."
)


class ApiCredentialForm(forms.ModelForm):
    allowed_scopes = forms.MultipleChoiceField(
        choices=scope_choices,
        widget=forms.CheckboxSelectMultiple,
        help_text="The APIs this credential may call: service:integration grants every public API; "
        "nql and remote_actions grant only the NQL or the remote actions API.",
    )

    class Meta:
        model = ApiCredential
        fields = ("name", "client_id", "allowed_scopes")
        help_texts = {
            "name": "What the integration is, for people reading this list.",
            "client_id": "The identifier the integration sends as client_id; fixed once created.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].required = True
        if not self.is_bound:
            self.initial["allowed_scopes"] = self.instance.allowed_scopes.split()
        # Every credential is a confidential client-credentials client with a hashed secret.
        self.instance.client_type = ApiCredential.CLIENT_CONFIDENTIAL
        self.instance.authorization_grant_type = ApiCredential.GRANT_CLIENT_CREDENTIALS
        self.instance.hash_client_secret = True

    def clean_allowed_scopes(self) -> str:
        chosen = set(self.cleaned_data["allowed_scopes"])
        return " ".join(scope for scope in oauth2_settings.SCOPES if scope in chosen)


if admin.site.is_registered(ApiCredential):
    admin.site.unregister(ApiCredential)


@admin.register(ApiCredential)
class ApiCredentialAdmin(admin.ModelAdmin):
    form = ApiCredentialForm
    view_on_site = False  # the toolkit's application pages are not part of this portal
    list_display = ("name", "client_id", "allowed_scopes", "created")
    search_fields = ("name", "client_id")
    search_help_text = "Search credentials by name or client ID."
    ordering = ("name",)
    actions = ("reset_client_secret",)
    list_per_page = 50

    def get_fieldsets(self, request, obj=None):
        return (
            (None, {"fields": ("name", "client_id", "allowed_scopes")}),
            (
                "Secret and grant",
                {"fields": ("client_secret_status", "client_type", "authorization_grant_type")
                 + (("created", "updated") if obj is not None else ())},
            ),
        )

    def get_readonly_fields(self, request, obj=None):
        readonly = ("client_secret_status", "client_type", "authorization_grant_type", "created", "updated")
        return (*readonly, "client_id") if obj is not None else readonly

    @admin.display(description="client secret")
    def client_secret_status(self, obj: ApiCredential) -> str:
        if obj is None or obj.pk is None:
            return "Generated when you save, and shown once."
        return "•••••••• (stored hashed; shown only once, at creation)"

    def save_model(self, request, obj, form, change):
        secret = None
        if not change:
            secret = generate_client_secret()
            obj.client_secret = secret
            obj.hash_client_secret = True
        super().save_model(request, obj, form, change)
        if secret is not None:
            messages.success(request, SECRET_ONCE.format(name=obj.name or obj.client_id, secret=secret))

    @admin.action(description="Issue a new client secret (shown once)", permissions=["change"])
    def reset_client_secret(self, request, queryset):
        for credential in queryset:
            secret = generate_client_secret()
            credential.client_secret = secret
            credential.hash_client_secret = True
            credential.save(update_fields=["client_secret", "hash_client_secret", "updated"])
            self.log_change(request, credential, [{"changed": {"fields": ["client secret"]}}])
            messages.success(
                request, SECRET_ONCE.format(name=credential.name or credential.client_id, secret=secret)
            )


# Tokens and codes come from the OAuth flows: viewable (masked), revocable, never edited.
for _model in (get_access_token_model(), get_refresh_token_model(), get_grant_model(), get_id_token_model()):
    _base = type(admin.site.get_model_admin(_model)) if admin.site.is_registered(_model) else None
    if _base is None:
        continue
    admin.site.unregister(_model)
    # The toolkit's admins already show only the last 4 characters of a token or code
    # (``oauth2_provider.admin.mask_credential``) and never search by it; ours are also read-only.
    admin.site.register(_model, type(f"ReadOnly{_base.__name__}", (ViewOnlyAdminMixin, _base), {}))


# -- Authentication failures (throttling) ---------------------------------------------------------


@admin.register(AuthenticationFailure)
class AuthenticationFailureAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("kind", "key", "at")
    list_filter = ("kind",)
    search_fields = ("key",)
    search_help_text = "Search by account name, client name or client address."
    ordering = ("-at",)
    list_per_page = 100
    show_full_result_count = False

    # Recorded by the authentication code; deleting rows lifts a throttle early.
