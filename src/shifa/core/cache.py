"""The cache: Redis when ``REDIS_URL`` is set, and a process's own memory while Redis cannot be reached.

The cache holds nothing that must survive (rate-limit counters, short-lived tokens' look-ups), so Redis being
down must not fail a sign-in or a search: each call that cannot reach Redis is answered from this process's memory
instead, a warning is logged, and Redis is left alone for a few seconds (so a dead server costs one short timeout,
not one per call) before it is tried again. Rate limits then count per process until Redis is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import ClassVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

#: After a failure, Redis is not asked again for this long.
RETRY_AFTER_SECONDS = 5.0
UNREACHABLE = (RedisConnectionError, RedisTimeoutError, OSError)


class ResilientRedisCache(RedisCache):
    """Django's Redis cache, answered from local memory while Redis is unreachable."""

    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, server, params):
        super().__init__(server, params)
        self._fallback = LocMemCache(f"shifa-fallback-{id(self)}", {"OPTIONS": {"MAX_ENTRIES": 10_000}})
        self._down_until = 0.0

    # --- which cache answers ---------------------------------------------------------------------------------------

    def reachable(self) -> bool:
        """False while the last call failed less than RETRY_AFTER_SECONDS ago."""
        return time.monotonic() >= self._down_until

    def _call(self, name: str, *args, **kwargs):
        if self.reachable():
            try:
                return getattr(super(), name)(*args, **kwargs)
            except UNREACHABLE as exc:
                with self._lock:
                    first = self.reachable()
                    self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
                if first:
                    logger.warning(
                        "Redis cache unreachable (%s); using this process's memory for a while", exc
                    )
        return getattr(self._fallback, name)(*args, **kwargs)

    # --- the cache API -----------------------------------------------------------------------------------------------

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("add", key, value, timeout=timeout, version=version)

    def get(self, key, default=None, version=None):
        return self._call("get", key, default=default, version=version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set", key, value, timeout=timeout, version=version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("touch", key, timeout=timeout, version=version)

    def delete(self, key, version=None):
        return self._call("delete", key, version=version)

    def get_many(self, keys, version=None):
        return self._call("get_many", keys, version=version)

    def has_key(self, key, version=None):
        return self._call("has_key", key, version=version)

    def incr(self, key, delta=1, version=None):
        return self._call("incr", key, delta=delta, version=version)

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call("set_many", data, timeout=timeout, version=version)

    def delete_many(self, keys, version=None):
        return self._call("delete_many", keys, version=version)

    def clear(self):
        self._fallback.clear()
        return self._call("clear")


def redis_state() -> str:
    """'ok' or 'down' for the Redis that the cache and the channel layer share, or 'not_used' without one."""
    from django.core.cache import caches

    default = caches["default"]
    if not isinstance(default, RedisCache):
        return "not_used"
    try:
        default._cache.get_client().ping()  # Django's client holds the connection pool
    except UNREACHABLE:
        return "down"
    return "ok"
