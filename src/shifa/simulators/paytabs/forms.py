"""The hosted payment page's form: a test card and the payer's button."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from .actions import CHOICES

#: PayTabs' well-known test card, filled in for the payer.
TEST_CARD = "4111 1111 1111 1111"


class PageForm(forms.Form):
    choice = forms.ChoiceField(choices=[(c, c) for c in CHOICES])
    card_number = forms.CharField(label=_("Card number"), required=False, max_length=23)
    expiry = forms.CharField(label=_("Expiry (MM/YY)"), required=False, max_length=5)
    cvv = forms.CharField(label=_("CVV"), required=False, max_length=4)

    def clean(self):
        data = super().clean()
        if data.get("choice") not in {"pay", "decline"}:
            data["card_number"] = ""
            return data
        number = re.sub(r"[\s-]", "", data.get("card_number", ""))
        if not number.isdigit() or not 12 <= len(number) <= 19:
            self.add_error("card_number", _("Enter a card number of 12 to 19 digits."))
        data["card_number"] = number
        if data.get("choice") == "pay":
            expiry = re.fullmatch(r"(\d{2})/(\d{2})", data.get("expiry", ""))
            if not expiry or not 1 <= int(expiry.group(1)) <= 12:
                self.add_error("expiry", _("Enter the expiry as MM/YY."))
            if not re.fullmatch(r"\d{3,4}", data.get("cvv", "")):
                self.add_error("cvv", _("Enter the 3 or 4 digits on the back of the card."))
        return data
