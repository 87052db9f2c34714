"""A local Google Play: the Developer API's ``purchases.subscriptionsv2.get`` and ``purchases.subscriptions
.acknowledge``, its OAuth token endpoint (JWT-bearer grant for a service account), and a control route that makes or
changes a purchase and pushes a real-time developer notification (a Pub/Sub push) to our endpoint."""
