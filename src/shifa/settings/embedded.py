"""The single-process mode started by ``make run``: embedded PostgreSQL, in-memory channel layer, worker in-process."""

from .base import *  # noqa: F403

DEBUG = env_bool("DEBUG", True)  # noqa: F405
WHITENOISE_AUTOREFRESH = True
