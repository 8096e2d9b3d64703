"""Test origin: a real HTTP(S) server process with deterministic content and fault modes.

It lives in its own process (``python -m tests.origin.server``) so that the daemon under test talks to it over real
sockets, exactly as it would to a remote origin, and so that a hung or crashing test cannot take the server with it.
``content`` lets tests compute the expected bytes without asking the server; ``fixture`` starts and stops it.
"""
