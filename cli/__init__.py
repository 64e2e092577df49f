"""The `kgan` command line: a thin Typer layer over the kgan library."""
