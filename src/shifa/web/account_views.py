"""Account pages: sign-in by password or phone code, the second factor, sign-up, email confirmation, password
reset, the authenticator app and staff invitations. Thin: forms in, actions called, Problems shown on the form."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from shifa.access import catalog
from shifa.access.declare import page, public_page
from shifa.accounts import actions
from shifa.accounts import queries as account_queries
from shifa.accounts.models import CodePurpose
from shifa.core.errors import Problem
from shifa.tenancy import actions as tenancy_actions
from shifa.tenancy import queries as tenancy_queries

from . import forms

SESSION_PHONE = "shifa_phone"


def safe_next(request: HttpRequest) -> str:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return ""
    return next_url


def problem_text(problem: Problem) -> str:
    """An action's refusal as one sentence for a page without a form to put it on: its field messages, or else
    its detail."""
    return " ".join(str(e.message) for e in problem.errors) or str(problem.detail)


def show_problem(form, problem: Problem) -> int:
    """Put an action's refusal on the form (field errors on their fields); the status to answer with."""
    placed = False
    for error in problem.errors:
        if error.field in form.fields:
            form.add_error(error.field, error.message)
            placed = True
    if not placed:
        form.add_error(None, problem.detail)
    return problem.status if problem.status in {409, 429, 503} else 400


def form_page(request, form, *, title, submit, intro="", links=(), status=200, **extra) -> HttpResponse:
    context = {
        "form": form,
        "title": title,
        "submit": submit,
        "intro": intro,
        "links": links,
        "next": safe_next(request),
        **extra,
    }
    return render(request, extra.pop("template", "web/accounts/form_page.html"), context, status=status)


def _with_retry_after(response: HttpResponse, problem: Problem | None) -> HttpResponse:
    if problem is not None and problem.headers.get("Retry-After"):
        response["Retry-After"] = problem.headers["Retry-After"]
    return response


def after_sign_in(request: HttpRequest, signed_in: bool, next_url: str | None = None) -> HttpResponse:
    """Where a finished first step leads: home (or ``next``), or the second factor."""
    from .views import home_for

    next_url = safe_next(request) if next_url is None else next_url
    if not signed_in:
        target = reverse("web:two_factor")
        return HttpResponseRedirect(f"{target}?next={next_url}" if next_url else target)
    return HttpResponseRedirect(next_url or home_for(request.user))


def sign_in_links(request) -> list[dict]:
    return [
        *provider_links(),
        {"url": reverse("web:phone_sign_in"), "label": _("Sign in with a code by text message")},
        {"url": reverse("web:sign_up"), "label": _("New patient? Create an account")},
        {"url": reverse("web:password_reset"), "label": _("Forgot your password?")},
    ]


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def two_factor(request: HttpRequest) -> HttpResponse:
    if actions.session_mfa_user(request) is None:
        return form_page(
            request,
            None,
            title=_("Two-step verification"),
            intro=_("This step follows your password, and the sign-in it belonged to has expired."),
            submit="",
            links=[{"url": reverse("web:sign_in"), "label": _("Sign in")}],
        )
    form = forms.MfaForm(request.POST or None)
    status, problem = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                actions.session_mfa_complete(request, code=form.cleaned_data["code"])
            except Problem as exc:
                problem = exc
                status = show_problem(form, exc)
            else:
                return after_sign_in(request, True)
    response = form_page(
        request,
        form,
        title=_("Two-step verification"),
        intro=_("Enter the code shown in your authenticator app, or one of your recovery codes."),
        submit=_("Verify"),
        status=status,
    )
    return _with_retry_after(response, problem)


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def phone_sign_in(request: HttpRequest) -> HttpResponse:
    form = forms.PhoneForm(request.POST or None)
    status, problem = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                phone = actions.normalize_phone(form.cleaned_data["phone"])
                actions.phone_code_send(
                    phone=phone, purpose=CodePurpose.SIGN_IN, address=actions.client_address(request)
                )
            except Problem as exc:
                problem = exc
                status = show_problem(form, exc)
            else:
                request.session[SESSION_PHONE] = phone
                messages.info(request, _("We sent a code to %(phone)s.") % {"phone": phone})
                target = reverse("web:phone_code")
                next_url = safe_next(request)
                return HttpResponseRedirect(f"{target}?next={next_url}" if next_url else target)
    response = form_page(
        request,
        form,
        title=_("Sign in with your phone"),
        intro=_("We will text you a six-digit code. New patients can sign up the same way."),
        submit=_("Send the code"),
        links=[{"url": reverse("web:sign_in"), "label": _("Sign in with email and password")}],
        status=status,
    )
    return _with_retry_after(response, problem)


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def phone_code(request: HttpRequest) -> HttpResponse:
    phone = request.session.get(SESSION_PHONE)
    if not phone:
        return redirect("web:phone_sign_in")
    form = forms.PhoneCodeForm(request.POST or None)
    status, problem = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = actions.phone_sign_in(
                    request,
                    phone=phone,
                    code=form.cleaned_data["code"],
                    full_name=form.cleaned_data["full_name"],
                    language=get_language() or "ar",
                )
            except Problem as exc:
                problem = exc
                status = show_problem(form, exc)
            else:
                request.session.pop(SESSION_PHONE, None)
                return after_sign_in(request, actions.session_begin(request, user))
    response = form_page(
        request,
        form,
        title=_("Enter your code"),
        intro=_("We texted a code to %(phone)s. It expires in five minutes.") % {"phone": phone},
        submit=_("Continue"),
        links=[{"url": reverse("web:phone_sign_in"), "label": _("Send a new code")}],
        status=status,
    )
    return _with_retry_after(response, problem)


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def sign_up(request: HttpRequest) -> HttpResponse:
    form = forms.SignUpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                user = actions.email_sign_up(
                    language=get_language() or "ar",
                    address=actions.client_address(request),
                    **form.cleaned_data,
                )
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                return render(
                    request,
                    "web/accounts/form_page.html",
                    {
                        "title": _("Check your email"),
                        "intro": _(
                            "We sent a link to %(email)s. Open it to confirm your address and sign in."
                        )
                        % {"email": user.email},
                    },
                    status=201,
                )
    return form_page(
        request,
        form,
        title=_("Create your patient account"),
        submit=_("Create account"),
        links=[
            {"url": reverse("web:phone_sign_in"), "label": _("Sign up with your phone number instead")},
            {"url": reverse("web:sign_in"), "label": _("Already have an account? Sign in")},
        ],
        status=status,
    )


@public_page()
def verify_email(request: HttpRequest, key: str) -> HttpResponse:
    try:
        actions.email_verify(key=key)
    except Problem as exc:
        return render(
            request,
            "web/accounts/form_page.html",
            {"title": _("Link not valid"), "intro": exc.detail},
            status=400,
        )
    messages.success(request, _("Your email address is confirmed. You can sign in now."))
    return redirect("web:sign_in")


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = forms.PasswordResetRequestForm(request.POST or None)
    status, problem = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            identifier = form.cleaned_data["identifier"].strip()
            by_phone = "@" not in identifier
            try:
                phone = actions.normalize_phone(identifier) if by_phone else ""
                actions.password_reset_request(
                    email="" if by_phone else identifier, phone=phone, address=actions.client_address(request)
                )
            except Problem as exc:
                problem = exc
                status = show_problem(form, exc)
            else:
                if by_phone:
                    request.session[SESSION_PHONE] = phone
                    messages.info(
                        request, _("If an account uses %(phone)s, we texted it a code.") % {"phone": phone}
                    )
                    return redirect("web:password_reset_code")
                return render(
                    request,
                    "web/accounts/form_page.html",
                    {
                        "title": _("Check your email"),
                        "intro": _(
                            "If an account uses this address, we sent it a link to choose a new password."
                        ),
                    },
                )
    response = form_page(
        request,
        form,
        title=_("Reset your password"),
        intro=_("Enter your email address or phone number."),
        submit=_("Continue"),
        status=status,
    )
    return _with_retry_after(response, problem)


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def password_reset_code(request: HttpRequest) -> HttpResponse:
    phone = request.session.get(SESSION_PHONE)
    if not phone:
        return redirect("web:password_reset")
    form = forms.PasswordResetCodeForm(request.POST or None)
    status, problem = 200, None
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                actions.password_reset_by_code(request, phone=phone, **form.cleaned_data)
            except Problem as exc:
                problem = exc
                status = show_problem(form, exc)
            else:
                request.session.pop(SESSION_PHONE, None)
                messages.success(request, _("Your password is changed. Sign in with it now."))
                return redirect("web:sign_in")
    response = form_page(
        request, form, title=_("Choose a new password"), submit=_("Save the password"), status=status
    )
    return _with_retry_after(response, problem)


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, uid: str, token: str) -> HttpResponse:
    form = forms.NewPasswordForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                actions.password_reset_by_link(uid=uid, token=token, password=form.cleaned_data["password"])
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Your password is changed. Sign in with it now."))
                return redirect("web:sign_in")
    return form_page(
        request, form, title=_("Choose a new password"), submit=_("Save the password"), status=status
    )


@page("accounts.manage_security", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def security(request: HttpRequest) -> HttpResponse:
    """The signed-in person's sign-in methods: the authenticator app (enrol, recovery codes) and linked
    Google/Apple accounts."""
    user = request.actor.user
    enrolled = account_queries.has_authenticator(user)
    form = (forms.MfaForm if enrolled else forms.EnrolForm)(request.POST or None)
    setup, recovery_codes, status = None, None, 200
    step = request.POST.get("step")
    if request.method == "POST" and step == "start":
        form = forms.MfaForm() if enrolled else forms.EnrolForm()
        try:
            actions.require_recent_sign_in(actions.signed_in_at(request))
            setup = actions.totp_begin(user=user)
        except Problem as exc:  # already set up (a second tab, a double click)
            messages.info(request, exc.detail)
    elif request.method == "POST" and step == "remove":
        status = 400
        if form.is_valid():
            try:
                actions.session_totp_remove(request, code=form.cleaned_data["code"])
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("The authenticator app is removed. Set up the new one now."))
                return redirect("web:security")
    elif request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                actions.require_recent_sign_in(actions.signed_in_at(request))
                recovery_codes = actions.session_totp_confirm(request, code=form.cleaned_data["code"])
                status = 200
            except Problem as exc:
                status = show_problem(form, exc)
                setup = {"retry": True}
    context = {
        "title": _("Sign-in and security"),
        "form": form,
        "setup": setup,
        "recovery_codes": recovery_codes,
        "has_mfa": account_queries.has_authenticator(user),
        "is_staff": account_queries.is_staff(user),
        "identities": account_queries.identity_list(user=user),
        "next": safe_next(request),
    }
    return render(request, "web/accounts/security.html", context, status=status)


@public_page(methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """An invited person lands here from the email: accept as the signed-in user, sign in first, or create the
    account. Staff then set up their authenticator app."""
    try:
        invite = tenancy_queries.invitation_by_token(token)
    except Problem as exc:
        return render(
            request,
            "web/accounts/form_page.html",
            {"title": _("Invitation not valid"), "intro": exc.detail},
            status=exc.status,
        )
    user = request.user if request.user.is_authenticated else None
    account_exists = account_queries.email_in_use(invite.email)
    form = None if user or account_exists else forms.InvitationAcceptForm(request.POST or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form is None or form.is_valid():
            try:
                _invite, account = tenancy_actions.invitation_accept(
                    token=token,
                    user=user,
                    language=get_language() or "ar",
                    **(form.cleaned_data if form is not None else {}),
                )
            except Problem as exc:
                if form is None:
                    messages.error(request, exc.detail)
                    return redirect("web:invitation", token=token)
                status = show_problem(form, exc)
            else:
                if user is None:
                    actions.session_begin(request, account)
                messages.success(
                    request,
                    _("Welcome to %(clinic)s. Set up your authenticator app to open the clinic console.")
                    % {"clinic": invite.clinic.display_name(get_language())},
                )
                return redirect("web:security")
    language = get_language()
    role = catalog.role_spec(invite.role.code)
    context = {
        "title": _("Join %(clinic)s") % {"clinic": invite.clinic.display_name(language)},
        "invite": invite,
        "role_name": role.name_ar if language == "ar" else role.name_en,
        "form": form,
        "user": user,
        "account_exists": account_exists,
        "submit": _("Accept the invitation") if form is None else _("Create account and join"),
        "sign_in_url": f"{reverse('web:sign_in')}?next={request.path}",
    }
    return render(request, "web/accounts/invitation.html", context, status=status)


OIDC_COOKIE = "shifa_oidc"
OIDC_SALT = "shifa.web.oidc"


def provider_links() -> list[dict]:
    from shifa.accounts.oidc import enabled_providers

    labels = {"google": _("Continue with Google"), "apple": _("Continue with Apple")}
    return [
        {"url": reverse("web:provider_start", args=[name]), "label": labels.get(name, name.title())}
        for name in enabled_providers()
    ]


@public_page()
def provider_start(request: HttpRequest, provider: str) -> HttpResponse:
    """Send the browser to Google or Apple. The state and nonce ride in a short-lived signed cookie that the
    provider's cross-site POST back still carries (SameSite=None), so the answer is bound to this browser."""
    import secrets

    from django.conf import settings

    from shifa.accounts import oidc

    if provider not in oidc.enabled_providers():
        return render(
            request,
            "web/accounts/form_page.html",
            {"title": _("Sign in"), "intro": _("This sign-in provider is not available.")},
            status=404,
        )
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    redirect_uri = settings.SHIFA_PUBLIC_URL + reverse("web:provider_callback", args=[provider])
    response = HttpResponseRedirect(
        oidc.authorization_url(provider, redirect_uri=redirect_uri, state=state, nonce=nonce)
    )
    response.set_signed_cookie(
        OIDC_COOKIE,
        f"{provider}:{state}:{nonce}:{safe_next(request)}",
        salt=OIDC_SALT,
        max_age=600,
        secure=True,
        httponly=True,
        samesite="None",
    )
    return response


def _provider_failed(request: HttpRequest, detail: str, status: int) -> HttpResponse:
    response = render(
        request,
        "web/accounts/form_page.html",
        {
            "title": _("Sign-in did not work"),
            "intro": detail,
            "links": [{"url": reverse("web:sign_in"), "label": _("Back to sign in")}],
        },
        status=status,
    )
    response.delete_cookie(OIDC_COOKIE, samesite="None")
    return response


@public_page(methods=("POST",))
@csrf_exempt
@require_http_methods(["POST"])
def provider_callback(request: HttpRequest, provider: str) -> HttpResponse:
    """The provider posts the ID token back here. CSRF protection is the state bound to the signed cookie."""
    import secrets

    from django.core import signing

    try:
        bound = request.get_signed_cookie(OIDC_COOKIE, salt=OIDC_SALT, max_age=600)
        cookie_provider, state, nonce, next_url = bound.split(":", 3)
    except (KeyError, signing.BadSignature, ValueError):
        return _provider_failed(request, _("This sign-in has expired. Start again."), 400)
    sent_state = request.POST.get("state", "")
    if cookie_provider != provider or not secrets.compare_digest(sent_state.encode(), state.encode()):
        return _provider_failed(request, _("This sign-in has expired. Start again."), 400)
    if request.POST.get("error"):
        return _provider_failed(request, _("The sign-in was cancelled."), 400)
    full_name = ""
    if provider == "apple" and request.POST.get("user"):  # Apple sends the name once, as JSON
        import json

        try:
            name = json.loads(request.POST["user"]).get("name") or {}
            full_name = " ".join(p for p in (name.get("firstName"), name.get("lastName")) if p)
        except (ValueError, AttributeError):
            full_name = ""
    try:
        user = actions.provider_sign_in(
            provider=provider,
            id_token=request.POST.get("id_token", ""),
            nonce=nonce,
            full_name=full_name,
            language=get_language() or "ar",
        )
    except Problem as exc:
        return _provider_failed(request, exc.detail, 409 if exc.status == 409 else 400)
    response = after_sign_in(request, actions.session_begin(request, user), next_url)
    response.delete_cookie(OIDC_COOKIE, samesite="None")
    return response


@page("notifications.manage_own", methods=("GET", "POST"))
@require_http_methods(["GET", "POST"])
def notifications(request: HttpRequest) -> HttpResponse:
    """One's notifications (live), how to be notified, and Web Push for this browser."""
    from shifa.notifications import actions as notification_actions
    from shifa.notifications import queries as notification_queries

    user = request.actor.user
    preference = notification_queries.preference_get(user=user)
    initial = {
        name: getattr(preference, name)
        for name in ("push", "email", "sms", "marketing", "quiet_from", "quiet_until")
    }
    # Every field may be left empty (all channels off, no quiet hours), so an empty POST is still a form.
    form = forms.NotificationPreferenceForm(
        request.POST if request.method == "POST" else None, initial=initial
    )
    status = 200
    if request.method == "POST" and request.POST.get("step") == "read-all":
        notification_actions.notifications_read_all(user=user)
        return redirect("web:notifications")
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                notification_actions.preference_set(user=user, **form.cleaned_data)
            except Problem as exc:
                status = show_problem(form, exc)
            else:
                messages.success(request, _("Your choices are saved."))
                return redirect("web:notifications")
    page_ = notification_queries.notification_list(user=user, limit=50)
    context = {
        "title": _("Notifications"),
        "items": page_.items,
        "unread": notification_queries.unread_count(user=user),
        "form": form,
        "time_zone": user.time_zone,
    }
    return render(request, "web/accounts/notifications.html", context, status=status)


@public_page()
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served from the site root so that its scope is the whole site."""
    from django.contrib.staticfiles import finders

    with open(finders.find("shifa/js/sw.js"), encoding="utf-8") as handle:
        response = HttpResponse(handle.read(), content_type="application/javascript; charset=utf-8")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
