"""Behaviour shared by model admins of several apps."""


class ViewOnlyAdminMixin:
    """For rows the platform writes itself (activity, runs, requests, tokens): the admin shows them and
    never adds or edits them. Deleting stays governed by the model permissions unless ``deletable``
    is False."""

    deletable = True

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return self.deletable and super().has_delete_permission(request, obj)
