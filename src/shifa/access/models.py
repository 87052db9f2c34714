"""Roles, permissions and the route → permission table (ID-3, ID-4). Seeded from ``catalog.py`` on migrate."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from shifa.core.models import BaseModel
from shifa.tenancy.models import TenantModel


class RoleKind(models.TextChoices):
    PLATFORM = "platform", _("Platform")
    STAFF = "staff", _("Clinic staff")
    PATIENT = "patient", _("Patient")


class Role(BaseModel):
    code = models.SlugField(_("code"), max_length=40, unique=True)
    kind = models.CharField(_("kind"), max_length=16, choices=RoleKind.choices)
    name_en = models.CharField(_("name (English)"), max_length=100)
    name_ar = models.CharField(_("name (Arabic)"), max_length=100)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.code


class PermissionScope(models.TextChoices):
    USER = "user", _("Signed-in user")
    CLINIC = "clinic", _("Within a clinic")
    PLATFORM = "platform", _("Platform")


class Permission(BaseModel):
    codename = models.CharField(_("code"), max_length=80, unique=True)
    scope = models.CharField(_("scope"), max_length=16, choices=PermissionScope.choices)
    description = models.CharField(_("description"), max_length=200)

    class Meta:
        verbose_name = _("permission")
        verbose_name_plural = _("permissions")

    def __str__(self) -> str:
        return self.codename


class RolePermission(BaseModel):
    """The platform's limit: a role may hold this permission; ``granted_by_default`` says whether it does."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="role_permissions")
    permission = models.ForeignKey(Permission, on_delete=models.CASCADE, related_name="role_permissions")
    granted_by_default = models.BooleanField(_("granted by default"), default=True)

    class Meta:
        verbose_name = _("role permission")
        verbose_name_plural = _("role permissions")
        constraints = [
            models.UniqueConstraint(fields=["role", "permission"], name="access_rolepermission_unique")
        ]


class ClinicRolePermission(TenantModel):
    """A clinic's adjustment of a role's permission, only ever within the platform's limit (the FK)."""

    role_permission = models.ForeignKey(
        RolePermission, on_delete=models.CASCADE, related_name="clinic_adjustments"
    )
    granted = models.BooleanField(_("granted"))

    class Meta(TenantModel.Meta):
        verbose_name = _("clinic role permission")
        verbose_name_plural = _("clinic role permissions")
        constraints = [
            models.UniqueConstraint(
                fields=["clinic", "role_permission"], name="access_clinicrolepermission_unique"
            )
        ]


class ResourceKind(models.TextChoices):
    API = "api", _("API operation")
    PAGE = "page", _("Page")
    WEBSOCKET = "ws", _("WebSocket")


class ApiResource(BaseModel):
    """Every API operation, page and WebSocket route with the permission it needs. No row: refused."""

    method = models.CharField(_("method"), max_length=8)
    path = models.CharField(
        _("path"), max_length=300, help_text=_("Route template, e.g. /api/v1/clinics/{clinic_id}")
    )
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=8, choices=ResourceKind.choices)
    permission = models.ForeignKey(
        Permission, null=True, blank=True, on_delete=models.PROTECT, related_name="resources"
    )
    is_public = models.BooleanField(_("public"), default=False)

    class Meta:
        verbose_name = _("API resource")
        verbose_name_plural = _("API resources")
        constraints = [
            models.UniqueConstraint(fields=["method", "path"], name="access_apiresource_unique_route"),
            models.CheckConstraint(
                condition=models.Q(is_public=True, permission__isnull=True)
                | models.Q(is_public=False, permission__isnull=False),
                name="access_apiresource_public_xor_permission",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"
