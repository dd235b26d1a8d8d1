"""Helpers for tests and benchmarks (small cities built through the services, protocol test
doubles). Not product code: the wheel leaves this package out, and nothing under civichub/ other
than tests imports it."""
