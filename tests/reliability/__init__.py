"""Helpers of the reliability tests (tests/integration/test_reliability*.py, test_security.py)."""
