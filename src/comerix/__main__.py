"""`python -m comerix` is the `comerix` command."""

from comerix.cli import main

if __name__ == "__main__":  # not when a writer process (telemetry.writer) starts from this module
    main()
