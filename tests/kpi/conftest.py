"""The KPI tests use the shared ``shop`` fixture of tests/conftest.py."""
