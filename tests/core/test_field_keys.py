"""Field encryption: sealed values, rotation of the master key without re-encrypting data, ciphertexts bound to
their column (shifa.core.keys)."""

from __future__ import annotations

import base64
import os

import pytest
from django.db import connection
from django.test import override_settings

from shifa.core import keys
from shifa.core.actions import field_keys_rotate
from shifa.core.models import DataKey
from shifa.records.models import Patient


def _master(key_id: str) -> str:
    return f"{key_id}:" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


@pytest.fixture
def fresh_provider():
    keys.provider.cache_clear()
    keys.keyring.clear()
    yield
    keys.provider.cache_clear()
    keys.keyring.clear()


def _stored(patient) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT national_id FROM records_patient WHERE id = %s", [patient.pk])
        return cursor.fetchone()[0]


def test_the_master_key_is_rotated_and_old_values_stay_readable(db, fresh_provider):
    old, new = _master("m1"), _master("m2")
    with override_settings(FIELD_MASTER_KEYS=old):
        keys.provider.cache_clear()
        patient = Patient.objects.create(full_name="Rana", national_id="9876543210")
        first_key = _stored(patient).split(".")[1]
    with override_settings(FIELD_MASTER_KEYS=f"{new},{old}"):
        keys.provider.cache_clear()
        outcome = field_keys_rotate()
        assert outcome["rewrapped"] >= 1
        assert set(DataKey.objects.values_list("master_key_id", flat=True)) == {"m2"}
        later = Patient.objects.create(full_name="Omar", national_id="9876543211")
        assert _stored(later).split(".")[1] == str(outcome["data_key"]) != first_key
    # The old master key is gone: everything still opens, old values with their rewrapped data key.
    with override_settings(FIELD_MASTER_KEYS=new):
        keys.provider.cache_clear()
        keys.keyring.clear()
        assert Patient.objects.get(pk=patient.pk).national_id == "9876543210"
        assert Patient.objects.get(pk=later.pk).national_id == "9876543211"


def test_a_data_key_needs_its_master_key(db, fresh_provider):
    with override_settings(FIELD_MASTER_KEYS=_master("m1")):
        keys.provider.cache_clear()
        patient = Patient.objects.create(full_name="Rana", national_id="9876543210")
    with override_settings(FIELD_MASTER_KEYS=_master("m9")):
        keys.provider.cache_clear()
        keys.keyring.clear()
        with pytest.raises(keys.KeyUnavailable):
            Patient.objects.get(pk=patient.pk)


def test_a_ciphertext_does_not_open_in_another_column(db):
    sealed = keys.encrypt("secret", "records.Visit.notes")
    assert keys.decrypt(sealed, "records.Visit.notes") == "secret"
    with pytest.raises(keys.KeyUnavailable):
        keys.decrypt(sealed, "records.Visit.complaint")


def test_the_same_value_seals_differently_each_time(db):
    assert keys.encrypt("9876543210", "x") != keys.encrypt("9876543210", "x")


@pytest.mark.parametrize("bad", ["", "m1", "m1:short", ":" + base64.urlsafe_b64encode(bytes(32)).decode()])
def test_a_malformed_master_key_setting_is_refused(bad):
    with pytest.raises(ValueError):
        keys.parse_master_keys(bad)
