"""Shifa's benchmarks: speed and capacity figures measured against a real PostgreSQL database.

Run one with ``python -m benchmarks NAME [--quick]``; see ``benchmarks/README.md``.
"""
