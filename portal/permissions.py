"""DRF permission classes, one per right of a profile (platform.md, "Accounts and profiles").

A refusal answers 403 (``PermissionDenied`` with the class's ``code``) and never counts as an
authentication failure; a request that is not authenticated answers 401 instead (DRF raises
``NotAuthenticated`` when a permission refuses a request no authenticator accepted). Combine them
for an endpoint, e.g. the Web API V2 needs ``[HasFinderAccess, DataPrivacyNone]``.

The rights are read from the account's profile as loaded for the current request (the account is
loaded afresh by every authentication): a change to a profile takes effect on the next request.
Only the profile grants API rights; being a Django superuser grants none by itself.
"""

from __future__ import annotations

from rest_framework.permissions import BasePermission

from portal.models import Profile


class ProfileRight(BasePermission):
    """Base class: grants when the authenticated, active account's profile holds the right."""

    message = "The account's profile does not grant this right."
    code = "permission_denied"

    def has_permission(self, request, view) -> bool:
        return self.allows(getattr(request, "user", None))

    def allows(self, account) -> bool:
        """Whether ``account`` (an ``Account``, or None/anonymous) may pass; usable outside DRF."""
        if account is None or not getattr(account, "is_authenticated", False) or not account.is_active:
            return False
        return self.grants(account.profile)

    def grants(self, profile: Profile) -> bool:
        raise NotImplementedError


class HasFinderAccess(ProfileRight):
    """Finder access: may use the Web API V2, the NXQL editor and the Act API."""

    message = "The account's profile does not grant finder access."
    code = "no_finder_access"

    def grants(self, profile: Profile) -> bool:
        return profile.finder_access


class DataPrivacyNone(ProfileRight):
    """Data privacy ``none`` (full access to data), which the Web API V2 requires."""

    message = "The account's profile has data privacy enabled."
    code = "data_privacy"

    def grants(self, profile: Profile) -> bool:
        return profile.data_privacy == Profile.DataPrivacy.NONE


class AllowsRemoteActionApi(ProfileRight):
    """May call the classic Act API v2: finder access and the remote action API option together."""

    message = "The account's profile does not allow the remote action API."
    code = "no_remote_action_api"

    def grants(self, profile: Profile) -> bool:
        return profile.finder_access and profile.allow_remote_action_api


class CanEditCategories(ProfileRight):
    """May run NXQL ``update`` statements."""

    message = "The account's profile does not allow editing categories."
    code = "no_category_editing"

    def grants(self, profile: Profile) -> bool:
        return profile.can_edit_categories


class IsAdministrator(ProfileRight):
    """The administration right: may configure exporters, credentials and the other portal objects
    (and use the configuration API)."""

    message = "The account's profile does not grant the administration right."
    code = "no_administration"

    def grants(self, profile: Profile) -> bool:
        return profile.administration
