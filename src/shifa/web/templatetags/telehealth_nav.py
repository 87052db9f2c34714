"""Whether the signed-in person may open a page, for navigation links shown only to those who may follow them:
``{% may "messaging.care_team" as can_message %}``.

Decided as the page itself decides, at most one query per request: in a clinic, from the clinic's own adjustments
of its roles (the permissions the navigation asks about are looked up together, once); elsewhere — the patient app,
the platform console — from the platform's defaults, which ``api_resources`` and the role rows are synced from."""

from __future__ import annotations

from dataclasses import replace

from django import template

from shifa.access import catalog
from shifa.access.policies import Actor, effective_grants, has_permission, user_roles

register = template.Library()

#: The permissions the navigation asks about.
NAV_PERMISSIONS = (
    "messaging.use_own",
    "telehealth.use_own",
    "messaging.care_team",
    "telehealth.urgent_care",
    "platform.view_clinics",
)


def _nav_grants(actor) -> frozenset[str]:
    if actor.clinic is None:
        return frozenset(
            p for p in NAV_PERMISSIONS if any(catalog.ROLE_PERMISSIONS.get(r, {}).get(p) for r in actor.roles)
        )
    return frozenset(
        effective_grants(actor.clinic)
        .filter(role__code__in=actor.roles, permission__codename__in=NAV_PERMISSIONS)
        .values_list("permission__codename", flat=True)
    )


def _acting(request) -> Actor | None:
    """The request's actor, with the roles the user holds anywhere when the page is public: a public page (find
    a doctor, a doctor's profile) authorizes nobody, so its actor carries the user but no roles, and the
    navigation there must still be the signed-in person's own (looked up once per request)."""
    actor = getattr(request, "actor", None)
    if actor is None or actor.user is None or actor.roles or actor.clinic is not None:
        return actor
    acting = getattr(request, "_shifa_nav_actor", None)
    if acting is None:
        acting = replace(actor, roles=user_roles(actor.user))
        request._shifa_nav_actor = acting
    return acting


@register.simple_tag(takes_context=True)
def may(context, permission: str) -> bool:
    request = context.get("request")
    actor = _acting(request)
    if actor is None or actor.user is None or not actor.roles:
        return False
    if permission not in NAV_PERMISSIONS:
        return has_permission(actor.roles, permission, actor.clinic)
    granted = getattr(request, "_shifa_nav_grants", None)
    if granted is None:
        granted = _nav_grants(actor)
        request._shifa_nav_grants = granted
    return permission in granted
