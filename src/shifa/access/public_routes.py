"""The checked-in allowlist of routes that answer an anonymous caller. It only shrinks, never grows by accident:
a route declared public in code but missing here is refused, and a test compares this list with the routes.
"""

PUBLIC_ROUTES: frozenset[tuple[str, str]] = frozenset(
    {
        ("GET", "/"),
        ("GET", "/welcome"),
        ("GET", "/healthz"),
        ("GET", "/accounts/sign-in"),
        ("POST", "/accounts/sign-in"),
        ("POST", "/i18n/language"),
        ("GET", "/manifest.webmanifest"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/api/v1/docs"),
        ("POST", "/api/v1/auth/tokens"),
    }
)
