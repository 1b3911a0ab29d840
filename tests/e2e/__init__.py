"""Browser end-to-end tests of the web interface, and the store they share with
tests/test_web*.py."""
