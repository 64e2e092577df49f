"""`kgan`: the command line. One module per command group (data, train, evaluate,
serving, runs, bench); this one assembles them.

Every error a user can cause prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import contextlib
import faulthandler
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

import typer

from cli import bench, data, evaluate, runs, serving, train
from cli.ui import err_console, warn
from kgan.errors import KganError, KganWarning, first_line
from kgan.files import describe_os_error

app = typer.Typer(
    add_completion=True,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, evaluate and serve anime-avatar GANs (DCGAN and WGAN-GP).",
)


def _show_version(asked: bool) -> None:
    if not asked:
        return
    from cli.ui import import_tensorflow

    import_tensorflow()
    from kgan.system.environment import describe

    facts = describe()
    gpus = ", ".join(facts["gpus"]) or "none visible"
    typer.echo(
        f"kgan {facts['kgan']} · TensorFlow {facts['tensorflow']} · Keras {facts['keras']} · "
        f"Python {facts['python']}\nGPU: {gpus}\nCPU: {facts['cpu']} ({', '.join(facts['isa']) or 'no AVX2'}); "
        f"{facts['convolution_backend']}; bfloat16 {facts['bfloat16']}"
    )
    raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Versions, GPUs and the CPU backend, then exit."
        ),
    ] = False,
) -> None:
    """Train, evaluate and serve anime-avatar GANs (DCGAN and WGAN-GP)."""


app.add_typer(data.app, name="data")
app.command("train")(train.train)
app.command("fid")(evaluate.fid)
app.command("sample")(serving.sample)
app.command("export")(serving.export)
app.command("serve")(serving.serve)
app.command("runs")(runs.list_runs)
app.command("report")(runs.report)
app.command("compare")(runs.compare)
app.add_typer(bench.app, name="bench")


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The library's KganWarnings as one `kgan: warning:` line; others as Python shows them."""
    if issubclass(category, KganWarning):
        warn(str(message))
    else:
        _python_showwarning(message, category, filename, lineno, file, line)


_python_showwarning = warnings.showwarning


def _flags_as_flags(command) -> None:
    """Boolean flags take no value: show `--json`, not `--json <bool>` (Typer labels every type)."""
    help_option = command.get_help_option(command.context_class(command))
    for param in [*command.params, *([help_option] if help_option else [])]:
        if getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _flags_as_flags(sub)


COMPLETION_FLAGS = ("--show-completion", "--install-completion")


def _shell_from_environment() -> None:
    """Let `$SHELL` name the shell where none is among kgan's ancestors (cron, a container's entry
    point, a detached job): Typer asks shellingham, which then fails and Typer only says
    "Shell  not supported."."""
    import shellingham

    try:
        shellingham.detect_shell()
        return
    except shellingham.ShellDetectionFailure:
        shell = os.environ.get("SHELL", "")
    if not shell:
        raise KganError("cannot tell which shell this is: set SHELL, e.g. `SHELL=/bin/bash kgan --show-completion`")

    def from_environment(pid=None, max_depth=10):
        return Path(shell).name, shell

    shellingham.detect_shell = from_environment


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors become one line on stderr and exit code 2."""
    warnings.showwarning = _show_warning
    # A crash in native code (TensorFlow, numba) prints the Python stack: what a bug report needs.
    with contextlib.suppress(OSError, ValueError, RuntimeError, AttributeError):  # a stderr without a file
        faulthandler.enable()
    command = typer.main.get_command(app)
    _flags_as_flags(command)
    try:
        if set(COMPLETION_FLAGS) & set(sys.argv[1:] if argv is None else argv):
            _shell_from_environment()
        code = command.main(args=argv, prog_name="kgan", standalone_mode=False)
    except KganError as error:
        err_console.print(f"kgan: error: {error}", markup=False)
        return 2
    except (typer.Exit, typer.Abort) as done:
        return getattr(done, "exit_code", 130)
    except OSError as error:  # a user's path on a full, read-only or unwritable filesystem
        err_console.print(f"kgan: error: {describe_os_error(error)}", markup=False)
        return 2
    except Exception as error:
        # Typer's (vendored) click raises its usage errors with format_message/exit_code.
        if type(error).__name__ == "ResourceExhaustedError":  # TensorFlow's out of memory
            detail = first_line(error, empty="allocation failed")
            err_console.print(
                f"kgan: error: out of memory ({detail}): lower --batch-size (kgan fid, kgan bench) or --n "
                "(kgan sample), or run on a machine with more memory",
                markup=False,
            )
            return 2
        if not (hasattr(error, "format_message") and hasattr(error, "exit_code")):
            raise
        context = getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":
            return 0  # the help text was already printed
        hint = f" (see `{context.command_path} --help`)" if context is not None else ""
        err_console.print(f"kgan: error: {error.format_message()}{hint}", markup=False)
        return 2
    except KeyboardInterrupt as stop:  # a second stop signal, or one outside training
        err_console.print("kgan: interrupted", markup=False)
        return 128 + getattr(stop, "signum", 2)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
