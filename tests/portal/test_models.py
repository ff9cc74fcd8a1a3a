import pytest

from portal.models import Account, PlatformSettings, Profile


@pytest.mark.django_db
def test_administration_right_makes_the_account_staff_and_follows_profile_changes(make_account):
    account = make_account("ops", administration=True)
    assert account.is_staff
    assert account.has_perm("engine.change_device")
    assert not account.has_perm("auth.change_group")

    profile = account.profile
    profile.administration = False
    profile.save()
    account = Account.objects.get(pk=account.pk)
    assert not account.is_staff
    assert not account.has_perm("engine.change_device")


@pytest.mark.django_db
def test_platform_settings_is_a_singleton_with_documented_defaults(monkeypatch):
    first = PlatformSettings.load()
    assert (first.web_api_licensed, first.services_api_enabled) == (True, False)
    assert (first.act_default_timeout_seconds, first.act_max_devices) == (60, 10000)
    PlatformSettings(act_max_devices=5).save()
    assert PlatformSettings.objects.count() == 1
    assert PlatformSettings.load().act_max_devices == 5

    assert not PlatformSettings.load().services_api_active
    monkeypatch.setenv("OPENDEX_SERVICES_API", "true")
    assert PlatformSettings.load().services_api_active


@pytest.mark.django_db
def test_passwords_are_hashed_with_argon2(make_account):
    account = make_account("hashing", password="s3cret-passw0rd")
    assert account.password.startswith("argon2$")
    assert Profile.objects.filter(name="profile of hashing").exists()
