"""Patients' subscriptions (PAY-3): plans, purchases through the App Store, Google Play and PayTabs, and the one
entitlement state machine that every feature reads (``shifa.access.entitlements``)."""
