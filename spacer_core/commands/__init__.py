"""Subcommands of `spacer`; one module per command group (see spacer_core.cli)."""
