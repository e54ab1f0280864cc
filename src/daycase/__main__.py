"""`python -m daycase` runs the same command as the `daycase` script."""

from daycase.cli.main import main

main()
