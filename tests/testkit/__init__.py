"""Test helpers shared across the suite (importable because pytest puts tests/ on sys.path)."""
