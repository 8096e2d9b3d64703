"""Cython fast paths of dld; each module has a pure-Python reference next to its caller."""
