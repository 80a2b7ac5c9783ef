"""The `spacer` command: every subcommand answers --help; GPU-only packages are never imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from spacer_core.cli import build_parser


def _subcommands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommands(sub, (*prefix, name))


def test_every_command_has_help():
    commands = list(_subcommands(build_parser()))
    assert ("model", "tiny") in commands
    for cmd in commands:
        out = subprocess.run([sys.executable, "-m", "spacer_core.cli", *cmd, "--help"],
                             capture_output=True, text=True)
        assert out.returncode == 0, (cmd, out.stderr)
        assert "usage: spacer" in out.stdout


@pytest.mark.slow
def test_importing_the_project_never_imports_gpu_packages():
    code = (
        "import importlib, pkgutil, sys, spacer_core, spacer_ui\n"
        "for pkg in (spacer_core, spacer_ui):\n"
        "    for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + '.'):\n"
        "        importlib.import_module(m.name)\n"
        "bad = sorted({n.split('.')[0] for n in sys.modules} & {'flash_attn', 'vllm', 'deepspeed'})\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_building_the_parser_imports_no_heavy_library():
    """`spacer --help` stays fast: no command module imports torch, TRL or transformers to register."""
    code = ("import sys\nfrom spacer_core.cli import build_parser\nbuild_parser()\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'torch', 'trl', 'transformers', 'gradio'}))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
