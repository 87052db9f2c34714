"""Password sign-in by email (case-insensitive)."""

from __future__ import annotations

from django.contrib.auth.backends import BaseBackend

from .emails import email_key
from .models import User


class EmailBackend(BaseBackend):
    def authenticate(self, request, email: str | None = None, password: str | None = None, **kwargs):
        email = email or kwargs.get("username")
        if not email or not password:
            return None
        key = email_key(email)
        user = User.objects.filter(email=key).first() if key else None
        if user is None:
            # Spend the same time as a real check so that timing does not reveal which emails exist.
            User().set_password(password)
            return None
        if user.check_password(password) and user.is_active:
            return user
        return None

    def get_user(self, user_id):
        return User.objects.filter(pk=user_id, is_active=True).first()
