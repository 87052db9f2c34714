from django import forms
from django.utils.translation import gettext_lazy as _


class SignInForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


def _text(label, *, max_length=200, required=True, autocomplete="", help_text="", **attrs):
    widget_attrs = {"autocomplete": autocomplete} if autocomplete else {}
    widget_attrs |= attrs
    return forms.CharField(
        label=label,
        max_length=max_length,
        required=required,
        help_text=help_text,
        widget=forms.TextInput(attrs=widget_attrs),
    )


def _password(label, autocomplete="new-password"):
    return forms.CharField(
        label=label,
        max_length=256,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": autocomplete}),
    )


def _code(label, *, max_length=12):
    return _text(
        label,
        max_length=max_length,
        autocomplete="one-time-code",
        inputmode="numeric",
        autofocus=True,
        dir="ltr",
    )


class PhoneForm(forms.Form):
    phone = _text(
        _("Phone number"),
        max_length=32,
        autocomplete="tel",
        help_text=_("For example 079 123 4567"),
        inputmode="tel",
        dir="ltr",
        autofocus=True,
    )


class PhoneCodeForm(forms.Form):
    code = _code(_("The six-digit code"))
    full_name = _text(
        _("Full name"),
        required=False,
        autocomplete="name",
        help_text=_("New to Shifa? Enter your name and your account is created."),
    )


class SignUpForm(forms.Form):
    full_name = _text(_("Full name"), autocomplete="name")
    email = forms.EmailField(
        label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    phone = _text(_("Phone number (optional)"), max_length=32, required=False, autocomplete="tel", dir="ltr")
    password = _password(_("Password"))


class MfaForm(forms.Form):
    code = _code(_("Authenticator code or recovery code"), max_length=20)


class EnrolForm(forms.Form):
    code = _code(_("The six-digit code from the app"))


class PasswordResetRequestForm(forms.Form):
    identifier = _text(
        _("Email or phone number"), max_length=254, autocomplete="username", autofocus=True, dir="ltr"
    )


class NewPasswordForm(forms.Form):
    password = _password(_("New password"))


class PasswordResetCodeForm(forms.Form):
    code = _code(_("The six-digit code"))
    password = _password(_("New password"))


class InvitationAcceptForm(forms.Form):
    full_name = _text(_("Full name"), autocomplete="name")
    password = _password(_("Password"))


class InvitationForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args, roles: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = roles


class NotificationPreferenceForm(forms.Form):
    push = forms.BooleanField(label=_("Push notifications on this device"), required=False)
    email = forms.BooleanField(label=_("Email"), required=False)
    sms = forms.BooleanField(label=_("Text messages"), required=False)
    marketing = forms.BooleanField(label=_("News and offers"), required=False)
    quiet_from = forms.TimeField(
        label=_("Quiet hours from"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )
    quiet_until = forms.TimeField(
        label=_("Quiet hours until"), required=False, widget=forms.TimeInput(attrs={"type": "time"})
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault(
            "widget", MultipleFileInput(attrs={"accept": "application/pdf,image/png,image/jpeg"})
        )
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else [data] if data else []
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class ClinicApplicationForm(forms.Form):
    institution_name_ar = _text(_("Institution name (Arabic)"), dir="rtl")
    institution_name_en = _text(_("Institution name (English)"), dir="ltr")
    clinic_name_ar = _text(_("Clinic name (Arabic)"), dir="rtl")
    clinic_name_en = _text(_("Clinic name (English)"), dir="ltr")
    slug = _text(
        _("Short name for the web address"),
        max_length=80,
        required=False,
        dir="ltr",
        help_text=_("Latin letters, digits and dashes, e.g. nour-zarqa"),
    )
    city = _text(_("City"), max_length=100)
    moh_licence_number = _text(_("Ministry of Health licence number"), max_length=60, dir="ltr")
    contact_name = _text(_("Contact person"), autocomplete="name")
    contact_email = forms.EmailField(label=_("Contact email"), max_length=254)
    contact_phone = _text(_("Contact phone"), max_length=32, autocomplete="tel", dir="ltr")
    documents = MultipleFileField(
        label=_("Licence documents"),
        required=False,
        help_text=_("PDF, PNG or JPEG; up to five files of 5 MB"),
    )


class ApproveForm(forms.Form):
    plan = forms.ChoiceField(label=_("Plan"))
    months = forms.IntegerField(label=_("Months of validity"), min_value=1, max_value=60, initial=12)

    def __init__(self, *args, plans=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["plan"].choices = plans


class RejectForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason (the applicant receives it)"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class AuditFilterForm(forms.Form):
    table = forms.CharField(
        label=_("Table"), required=False, max_length=100, widget=forms.TextInput(attrs={"dir": "ltr"})
    )
    entity_id = forms.UUIDField(
        label=_("Record id"), required=False, widget=forms.TextInput(attrs={"dir": "ltr"})
    )
    actor = forms.EmailField(label=_("Who (email)"), required=False)
    clinic = forms.SlugField(label=_("Clinic (short name)"), required=False)
    since = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("Until"), required=False, widget=forms.DateInput(attrs={"type": "date"}))


class LinesField(forms.CharField):
    """A list of short texts, typed one per line."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        text = super().to_python(value) or ""
        return [line.strip() for line in text.replace(";", "\n").splitlines() if line.strip()]

    def validate(self, value):
        if self.required and not value:
            raise forms.ValidationError(self.error_messages["required"], code="required")


def reference_form_class(spec, language: str):
    """The platform console's form for one reference list: the list's editable fields, lists typed one per
    line, dosage forms ticked, a linked vaccine chosen by its name."""
    from django.db import models as db_models
    from django.forms.models import modelform_factory

    from shifa.catalog.models import DosageForm

    def field_for(model_field, **kwargs):
        label = model_field.verbose_name
        if model_field.name == "forms":
            return forms.MultipleChoiceField(
                label=label, choices=DosageForm.choices, widget=forms.CheckboxSelectMultiple
            )
        if isinstance(model_field, db_models.JSONField):
            return LinesField(label=label, required=False, help_text=_("One per line."))
        if isinstance(model_field, db_models.ForeignKey):
            field = model_field.formfield(**kwargs)
            field.label_from_instance = lambda obj: obj.display_name(language)
            return field
        return model_field.formfield(**kwargs)

    return modelform_factory(spec.model, fields=spec.fields, formfield_callback=field_for)


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason for suspension"), max_length=300, widget=forms.Textarea(attrs={"rows": 2})
    )


class RenewForm(forms.Form):
    months = forms.IntegerField(label=_("Months to add"), min_value=1, max_value=60, initial=12)


class PlanForm(forms.Form):
    code = forms.SlugField(label=_("Code"), max_length=40, widget=forms.TextInput(attrs={"dir": "ltr"}))
    name_en = forms.CharField(label=_("Name (English)"), max_length=100)
    name_ar = forms.CharField(label=_("Name (Arabic)"), max_length=100)
    price = forms.DecimalField(label=_("Price (JOD)"), min_value=0, max_digits=10, decimal_places=3)
    period = forms.ChoiceField(label=_("Period"))
    seats = forms.IntegerField(label=_("Staff seats"), min_value=1, max_value=10000)
    entitlements = forms.MultipleChoiceField(
        label=_("Includes"), required=False, widget=forms.CheckboxSelectMultiple
    )
    is_active = forms.BooleanField(label=_("Offered to clinics"), required=False, initial=True)

    def __init__(self, *args, **kwargs):
        from shifa.tenancy.models import Entitlement, PlanPeriod

        super().__init__(*args, **kwargs)
        self.fields["period"].choices = PlanPeriod.choices
        self.fields["entitlements"].choices = Entitlement.choices

    def clean_code(self):
        code = self.cleaned_data["code"]
        if code == "new":
            raise forms.ValidationError(_("This code is reserved; choose another."))
        return code
