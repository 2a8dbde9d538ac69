"""adapter tests."""
