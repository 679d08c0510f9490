"""What the tests share: builders, clients, process wrappers and pytest fixtures.

Why this exists: test modules used to import helpers and fixtures from one
another (and from conftest.py), so a test module was also a library and
pytest saw fixtures twice.  Plain modules here hold the builders and clients;
``tests/helpers/fixtures/`` holds the fixture plugins, registered once in
``tests/conftest.py``.  No test module imports another.
"""
