"""``python -m mechunlearn``: the command line."""

from mechunlearn.cli import main

main()
