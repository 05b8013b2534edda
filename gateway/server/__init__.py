"""The gateway server: Starlette app, metrics and the `flowgate serve` command."""
