"""``python -m miub`` runs the command-line interface."""

from miub.cli.main import main

main()
