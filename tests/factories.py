"""factory_boy factories for the domains built so far."""

from __future__ import annotations

import factory

from shifa.access.models import Role
from shifa.accounts.models import User
from shifa.core import timezones
from shifa.records.models import Patient
from shifa.tenancy.models import Clinic, ClinicStatus, Institution, Membership

PASSWORD = "correct-horse-battery"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.jo")
    email_verified_at = factory.LazyFunction(timezones.now)
    full_name = factory.Faker("name")
    language = "en"
    password = factory.django.Password(PASSWORD)


class InstitutionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Institution

    name_en = factory.Sequence(lambda n: f"Institution {n}")
    name_ar = factory.Sequence(lambda n: f"مؤسسة {n}")
    owner = factory.SubFactory(UserFactory)


class ClinicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinic

    institution = factory.SubFactory(InstitutionFactory)
    slug = factory.Sequence(lambda n: f"clinic-{n}")
    name_en = factory.Sequence(lambda n: f"Clinic {n}")
    name_ar = factory.Sequence(lambda n: f"عيادة {n}")
    city = "Amman"
    status = ClinicStatus.ACTIVE


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    clinic = factory.SubFactory(ClinicFactory)
    user = factory.SubFactory(UserFactory)
    role = factory.LazyFunction(lambda: Role.objects.get(code="doctor"))

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.unscoped.create(*args, **kwargs)


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient

    user = factory.SubFactory(UserFactory)
    full_name = factory.Faker("name")


TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def enrol_authenticator(user, secret: str = TOTP_SECRET) -> str:
    """Give ``user`` a confirmed authenticator app with a known secret; returns the secret."""
    from shifa.accounts.models import TotpDevice
    from shifa.core import crypto

    TotpDevice.objects.update_or_create(
        user=user,
        defaults={
            "secret_encrypted": crypto.encrypt(secret),
            "confirmed_at": timezones.now(),
            "last_step": 0,
        },
    )
    return secret
