"""``python -m dld`` is the ``dld`` command."""

from .cli import main

main()
