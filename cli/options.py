"""Options several commands share, declared once: the same spelling, help and environment
variable everywhere (`[env var: …]` in `--help` where a variable sets the option)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kgan.paths import INCEPTION_ENV, RUNS_DIR_ENV
from kgan.training.checkpoint import CHOICE_HELP, DEFAULT_CHOICE

RunDir = Annotated[
    Path | None, typer.Option(help=f"Run folder (default: the latest run under runs/, or under ${RUNS_DIR_ENV}).")
]
Inception = Annotated[
    str | None,
    typer.Option(
        envvar=INCEPTION_ENV,
        help="Local copy of the FID Inception module (default: TF Hub's, cached in $TFHUB_CACHE_DIR).",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print the result as one JSON object, nothing else on stdout.")]
Quiet = Annotated[bool, typer.Option("--quiet", help="No progress display.")]
Checkpoint = Annotated[str, typer.Option(help=CHOICE_HELP)]  # the same default in every command
DEFAULT_CHECKPOINT = DEFAULT_CHOICE
