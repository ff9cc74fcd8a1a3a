"""Portal models: accounts and profiles, hierarchies and entities, platform settings."""

from __future__ import annotations

import os

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import models
from oauth2_provider.models import AbstractApplication

# Apps whose objects the `administration` right lets an account configure in the portal.
ADMINISTERED_APPS = frozenset(
    {"portal", "engine", "remote_actions", "exporters", "service_health", "oauth2_provider", "django_celery_beat"}
)


class Entity(models.Model):
    """The smallest organisational unit a device belongs to (the base level of every hierarchy)."""

    name = models.CharField(max_length=200, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "entities"

    def __str__(self) -> str:
        return self.name


class Hierarchy(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    position = models.PositiveIntegerField(
        default=0, help_text="Hierarchies are listed by position, then name; the first one is the default."
    )

    class Meta:
        ordering = ["position", "name"]
        verbose_name_plural = "hierarchies"

    def __str__(self) -> str:
        return self.name

    @property
    def base_level(self) -> HierarchyLevel | None:
        return self.levels.order_by("-depth").first()


class HierarchyLevel(models.Model):
    """A level of a hierarchy; depth 0 is the top, the deepest level holds the entities."""

    hierarchy = models.ForeignKey(Hierarchy, on_delete=models.CASCADE, related_name="levels")
    name = models.CharField(max_length=200)
    depth = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["hierarchy", "depth"]
        constraints = [
            models.UniqueConstraint(fields=["hierarchy", "depth"], name="hierarchy_level_depth_unique"),
            models.UniqueConstraint(fields=["hierarchy", "name"], name="hierarchy_level_name_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.hierarchy} / {self.name}"


class HierarchyNode(models.Model):
    hierarchy = models.ForeignKey(Hierarchy, on_delete=models.CASCADE, related_name="nodes")
    level = models.ForeignKey(HierarchyLevel, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    name = models.CharField(max_length=200)
    entity = models.ForeignKey(
        Entity, null=True, blank=True, on_delete=models.PROTECT, related_name="nodes",
        help_text="Only on nodes of the base level: the entity this node stands for.",
    )

    class Meta:
        ordering = ["hierarchy", "level__depth", "name"]
        constraints = [
            models.UniqueConstraint(fields=["hierarchy", "parent", "name"], name="hierarchy_node_unique",
                                    nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return " / ".join(node.name for node in self.path())

    def path(self) -> list[HierarchyNode]:
        nodes, node = [], self
        while node is not None:
            nodes.append(node)
            node = node.parent
        return list(reversed(nodes))

    def clean(self) -> None:
        if self.level_id and self.hierarchy_id and self.level.hierarchy_id != self.hierarchy_id:
            raise ValidationError({"level": "The level belongs to another hierarchy."})
        if self.parent_id:
            if self.parent.hierarchy_id != self.hierarchy_id:
                raise ValidationError({"parent": "The parent belongs to another hierarchy."})
            if self.level_id and self.parent.level.depth != self.level.depth - 1:
                raise ValidationError({"parent": "The parent must be on the level just above."})
        elif self.level_id and self.level.depth != 0:
            raise ValidationError({"parent": "Only nodes of the top level have no parent."})
        base = self.hierarchy.base_level if self.hierarchy_id else None
        is_base = base is not None and self.level_id == base.pk
        if is_base and not self.entity_id:
            raise ValidationError({"entity": "Nodes of the base level stand for an entity."})
        if not is_base and self.entity_id:
            raise ValidationError({"entity": "Only nodes of the base level stand for an entity."})

    def entity_ids(self) -> set[int]:
        """The entities in this node's subtree (one query per level below)."""
        frontier = [self.pk]
        found: set[int] = set()
        while frontier:
            rows = list(HierarchyNode.objects.filter(pk__in=frontier).values_list("entity_id", flat=True))
            found.update(e for e in rows if e is not None)
            frontier = list(HierarchyNode.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        return found


class Profile(models.Model):
    """A named, reusable set of rights shared by accounts."""

    class DataPrivacy(models.TextChoices):
        NONE = "none", "None (full access to data)"
        PARTIAL = "partial", "Partial (hide user-identifying fields)"
        FULL = "full", "Full (hide user- and device-identifying fields)"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    finder_access = models.BooleanField(
        default=False, help_text="May use the Web API V2, the NXQL editor and the Act API."
    )
    data_privacy = models.CharField(max_length=10, choices=DataPrivacy.choices, default=DataPrivacy.NONE)
    allow_remote_action_api = models.BooleanField(
        default=False, help_text="With finder access, may call the classic Act API v2."
    )
    can_edit_categories = models.BooleanField(default=False, help_text="May run NXQL update statements.")
    view_domain = models.ForeignKey(
        HierarchyNode, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        help_text="Limits the visible devices to this node's subtree; empty means everything.",
    )
    administration = models.BooleanField(
        default=False,
        help_text="May configure exporters, remote actions, services, hierarchies and credentials.",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        super().save(*args, **kwargs)
        # Rights take effect on the next request: keep the accounts' staff flag in step now.
        self.accounts.filter(is_superuser=False).update(is_staff=self.administration)


class Account(AbstractUser):
    """A person or integration that signs in; every account has exactly one profile."""

    profile = models.ForeignKey(Profile, on_delete=models.PROTECT, related_name="accounts")

    class Meta:
        ordering = ["username"]

    def save(self, *args, **kwargs) -> None:
        if self.is_superuser:
            self.is_staff = True
        elif self.profile_id:
            self.is_staff = Profile.objects.filter(pk=self.profile_id, administration=True).exists()
        super().save(*args, **kwargs)

    def _administers(self, app_label: str) -> bool:
        return self.is_active and app_label in ADMINISTERED_APPS and self.profile.administration

    def has_perm(self, perm, obj=None) -> bool:
        if super().has_perm(perm, obj):
            return True
        return self._administers(perm.split(".", 1)[0])

    def has_module_perms(self, app_label) -> bool:
        return super().has_module_perms(app_label) or self._administers(app_label)


class PlatformSettings(models.Model):
    """The platform's settings: one row, edited in the admin; the environment seeds defaults."""

    web_api_licensed = models.BooleanField(default=True, help_text="When off, the Web API V2 answers 403.")
    services_api_enabled = models.BooleanField(
        default=False, help_text="When off, the Services API and discovery page answer 404."
    )
    act_default_timeout_seconds = models.PositiveIntegerField(default=60)
    act_max_devices = models.PositiveIntegerField(default=10000)
    enroll_secret = models.CharField(
        max_length=255, blank=True,
        help_text="Secret collectors send to enroll in the device channel; empty: enrollment refused.",
    )

    class Meta:
        verbose_name = "platform settings"
        verbose_name_plural = "platform settings"

    def __str__(self) -> str:
        return "Platform settings"

    def save(self, *args, **kwargs) -> None:
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> PlatformSettings:
        settings_row, _ = cls.objects.get_or_create(pk=1)
        return settings_row

    @property
    def services_api_active(self) -> bool:
        """Enabled in the portal, or by ``OPENDEX_SERVICES_API=true`` (the documented global switch)."""
        from_env = os.environ.get("OPENDEX_SERVICES_API", "").strip().lower() in {"1", "true", "yes", "on"}
        return self.services_api_enabled or from_env


class ApiCredential(AbstractApplication):
    """An OAuth 2.0 client-credentials application with the set of APIs it may call (scopes).

    The client secret is hashed at rest by django-oauth-toolkit and shown once, at creation.
    """

    allowed_scopes = models.CharField(
        max_length=255, default="service:integration",
        help_text="Space-separated scopes: service:integration (all public APIs), nql, remote_actions.",
    )

    class Meta(AbstractApplication.Meta):
        swappable = "OAUTH2_PROVIDER_APPLICATION_MODEL"
        verbose_name = "API credential"

    def scope_set(self) -> set[str]:
        return set(self.allowed_scopes.split())


class AuthenticationFailure(models.Model):
    """One failed authentication, kept for the throttling window (platform.md, Throttling)."""

    class Kind(models.TextChoices):
        ACCOUNT = "account"
        ADDRESS = "address"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    key = models.CharField(max_length=255, help_text="The account or client name, or the client address.")
    at = models.DateTimeField(db_index=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "key", "at"], name="auth_failure_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} at {self.at:%Y-%m-%d %H:%M:%S}"
