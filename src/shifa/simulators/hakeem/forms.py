"""The control page's forms (also read from JSON bodies): the switch and a Task's status."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from .actions import MAX_DELAY_SECONDS
from .models import SwitchMode
from .protocol import TASK_STATUS_ORDER


class SwitchForm(forms.Form):
    mode = forms.ChoiceField(label=_("Mode"), choices=SwitchMode.choices)
    delay_seconds = forms.DecimalField(
        label=_("Delay (seconds)"),
        required=False,
        min_value=Decimal(0),
        max_value=Decimal(MAX_DELAY_SECONDS),
        decimal_places=3,
    )


class TaskStatusForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), choices=[(s, s) for s in TASK_STATUS_ORDER])
    business_status = forms.CharField(label=_("Business status"), required=False, max_length=200)
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)
