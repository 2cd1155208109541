"""The `xmempp` command line (typer)."""
