"""The single-process mode started by ``make run``: embedded PostgreSQL, in-memory channel layer, worker in-process."""

from .base import *  # noqa: F403

# DEBUG stays off unless asked for (DEBUG=1): its technical error pages would show code and settings.
DEBUG = env_bool("DEBUG", False)  # noqa: F405
WHITENOISE_AUTOREFRESH = DEBUG
