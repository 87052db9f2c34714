"""A local stand-in for PayTabs (PT2, Jordan) that speaks its protocol: payment requests with a server key, a
hosted payment page with test buttons, signed server-to-server callbacks with retries, the browser's signed
return, queries, refunds (approved or pending) and tokenised recurring payments.

Decisions: ``docs/decisions/0022-paytabs-simulator.md``."""
