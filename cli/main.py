"""`kgan`: the command line. One module per command group (data, train, evaluate,
serving, runs, bench); this one assembles them.

Every error a user can cause prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

import typer

from cli import bench, data, evaluate, runs, serving, train
from cli.ui import err_console
from kgan.errors import KganError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, evaluate and serve anime-avatar GANs (DCGAN and WGAN-GP).",
)
app.add_typer(data.app, name="data")
app.command("train")(train.train)
app.command("fid")(evaluate.fid)
app.command("sample")(serving.sample)
app.command("export")(serving.export)
app.command("serve")(serving.serve)
app.command("runs")(runs.list_runs)
app.command("report")(runs.report)
app.add_typer(bench.app, name="bench")


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors become one line on stderr and exit code 2."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="kgan", standalone_mode=False)
    except KganError as error:
        err_console.print(f"kgan: error: {error}", markup=False)
        return 2
    except (typer.Exit, typer.Abort) as done:
        return getattr(done, "exit_code", 130)
    except Exception as error:
        # Typer's (vendored) click raises its usage errors with format_message/exit_code.
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            raise
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":
            return 0  # the help text was already printed
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        err_console.print(f"kgan: error: {error.format_message()}{hint}", markup=False)
        return 2
    except KeyboardInterrupt:
        err_console.print("kgan: interrupted", markup=False)
        return 130
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
