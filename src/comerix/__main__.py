"""`python -m comerix` is the `comerix` command."""

from comerix.cli import main

main()
