"""Local simulators of outside services that speak their protocols (PayTabs, Google Play), used by ``make run``
and the tests in place of the real services. Served under ``/simulators/`` when ``SHIFA_SIMULATORS`` is on."""
