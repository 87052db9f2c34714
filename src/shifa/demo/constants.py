"""Public facts about the demo data (printed in the README). Demo only: never used for real accounts."""

DEMO_PASSWORD = "shifa-demo-2026"
#: The authenticator secret of every demo staff and platform-admin account (``shifa demo-code`` prints the
#: current code; any authenticator app accepts it too).
DEMO_TOTP_SECRET = "SHIFADEMOSTAFFTOTPSECRETAAAAAAAA"
