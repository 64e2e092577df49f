"""`kgan train`: a new run, or --resume; one worker of a cluster under --strategy multiworker."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.config_options import choices, with_hyperparameters
from cli.ui import COMPILING, CountProgress, console, import_tensorflow, interactive, warn
from kgan.config import PRESETS, TrainConfig, read_config_file
from kgan.errors import KganError
from kgan.paths import RUNS_DIR_ENV, WORKER_TIMEOUT_ENV

Preset = choices("Preset", tuple(PRESETS))
PAPER = Preset("paper")

EXAMPLES = """

Examples:

  # the CPU demo on the embedded avatars
  kgan train --preset quick

  # Table 1, and Table 2 read as WGAN-GP
  kgan train --variant dcgan --data data/faces --epochs 80
  kgan train --variant wgangp --data data/faces --epochs 80

  # Table 2 read literally: BCE loss + gradient penalty, sigmoid D
  kgan train --variant wgangp --loss bce --data data/faces

  # the resolved config as TOML, then a run from it
  kgan train --variant wgangp --lr-d 1e-4 --dry-run > run.toml
  kgan train --config run.toml

  # continue the latest run to 100 epochs
  kgan train --resume --epochs 100
"""


@with_hyperparameters
def train(
    run_dir: Annotated[
        Path | None, typer.Option(help=f"Run folder (default: a new one under runs/, or under ${RUNS_DIR_ENV}).")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run (latest, or --run-dir) from its last checkpoint.")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file of hyperparameters (names below).")] = None,
    preset: Annotated[
        Preset, typer.Option(help="paper: the paper's settings; quick: a small model for a CPU demo.")
    ] = PAPER,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the resolved config as TOML (what --config reads) and exit.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Plain log lines instead of the live dashboard.")] = False,
    worker_timeout: Annotated[
        float,
        typer.Option(
            min=1, envvar=WORKER_TIMEOUT_ENV, help="--strategy multiworker: seconds to wait for the other workers."
        ),
    ] = 60.0,
    hyperparameters: dict[str, Any] | None = None,
) -> None:
    """Train a GAN (new run, or --resume), writing checkpoints, samples and metrics to the run folder.

    Precedence: variant defaults < --preset < --config file < flags.
    """
    flags = hyperparameters or {}
    if dry_run:
        print(_resolved(run_dir, resume, config, preset, flags).to_toml(), end="")
        return
    import_tensorflow()

    if flags["strategy"] == "multiworker" or (resume and _recorded_strategy(run_dir) == "multiworker"):
        _train_as_worker(run_dir, flags, config, preset, resume, quiet, worker_timeout)
        return
    if resume:
        target = _check_resume(run_dir, flags, config, preset)
    else:
        target = _new_run(flags, config, preset, run_dir, quiet)
    _run(target, flags["epochs"], flags["time_budget"], quiet)


train.__doc__ = (train.__doc__ or "") + EXAMPLES


def _resolved(run_dir: Path | None, resume: bool, config: Path | None, preset, flags: dict) -> TrainConfig:
    """The config a run would train with, without touching anything."""
    if resume:
        from kgan import runs

        recorded = runs.load_config(_check_resume(run_dir, flags, config, preset))
        return recorded.with_overrides(epochs=flags["epochs"], time_budget=flags["time_budget"]).validate()
    file_values = read_config_file(config) if config else {}
    return TrainConfig.resolve(preset=preset.value, file_values=file_values, flags=flags)


def _recorded_strategy(run_dir: Path | None) -> str | None:
    from kgan import runs

    try:
        return runs.load_config(runs.resolve_run(run_dir)).strategy
    except KganError:
        return None


def _check_resume(run_dir: Path | None, flags: dict, config: Path | None, preset) -> Path:
    """The run to continue. Values given again are accepted when they equal the run's recorded
    config (so the original command plus --resume works); a value that differs is refused."""
    from kgan import runs

    target = runs.resolve_run(run_dir)
    given = {**PRESETS[preset.value], **(read_config_file(config) if config else {})}
    given.update({name: value for name, value in flags.items() if value is not None})
    conflicts = runs.resume_conflicts(target, given)
    if conflicts:
        changes = "; ".join(f"--{name.replace('_', '-')}: {old} → {new}" for name, old, new in conflicts)
        raise KganError(
            f"{changes}: the run keeps its recorded config on --resume (only --epochs and --time-budget can change); "
            "start a new run for other values"
        )
    return target


def _new_run(flags: dict, config: Path | None, preset, run_dir: Path | None, quiet: bool) -> Path:
    from kgan.data.default import DEFAULT_COUNT, must_draw, resolve_dataset
    from kgan.data.synthetic import drawing_compiled
    from kgan.runs import create_run

    settings = _resolved(None, False, config, preset, flags)
    if not quiet and must_draw(settings.data) and not drawing_compiled():
        console.print(COMPILING)
    with CountProgress("drawing the default synthetic dataset", interactive(quiet), total=DEFAULT_COUNT) as counter:
        dataset = resolve_dataset(settings.data, progress=counter)
    target = create_run(settings, dataset, run_dir)
    console.print(f"run {target} ({settings.variant}, data {dataset.folder})")
    return target


def _run(target: Path, epochs: int | None, time_budget: float | None, quiet: bool) -> None:
    from cli.train_view import TrainingDisplay
    from kgan.training.session import train as train_run

    display = TrainingDisplay(interactive(quiet), run_name=target.name)
    try:
        result = train_run(target, epochs=epochs, time_budget=time_budget, callbacks=[display], warn=display.warn)
    finally:
        display.close()
    _report(result, target)
    _final_evaluation(target)


def _final_evaluation(target: Path) -> None:
    """The run's closing number (config `final_eval`): the best checkpoint on the test split.
    Training has succeeded either way, so a failure here is a warning, not a failed run."""
    from kgan import runs
    from kgan.data.dataset import Split
    from kgan.metrics.evaluate import evaluate_run

    features = runs.load_config(target).final_eval
    if not features:
        return
    try:
        result, chosen = evaluate_run(target, split=Split.TEST, features=features, announce=warn)
    except KganError as error:
        warn(f"the closing evaluation failed ({error}); score the run later with: kgan fid --run-dir {target}")
        return
    where = f"epoch {chosen['epoch']} ({chosen['name']})"
    console.print(f"test split, {features} features, {where}: {closing_line(result)}")


def closing_line(result) -> str:
    """The figures of an evaluation (`table.METRICS`) and its attribute coverage, on one line."""
    from kgan.metrics.table import shown

    parts = [f"{label} {value}" for label, value in shown(result.to_dict())]
    if result.attributes:
        covered = sum(row["covered"] for row in result.attributes.values())
        values = sum(row["values"] for row in result.attributes.values())
        parts.append(f"attribute values made {covered}/{values}")
    return " · ".join(parts)


def _train_as_worker(
    run_dir: Path | None, flags: dict, config: Path | None, preset, resume: bool, quiet: bool, timeout: float
) -> None:
    """One worker of a cluster: the chief creates or resumes the run in --run-dir; the
    others take it from the chief over the network (their --run-dir is never written)."""
    from cli.train_view import TrainingDisplay
    from kgan.training.cluster import cluster_role
    from kgan.training.multiworker import train_multiworker

    if run_dir is None:
        raise KganError("--strategy multiworker needs --run-dir (the chief's run folder)")
    from kgan.runs.folder import RunFolder

    _, _, chief = cluster_role()
    if chief:
        if resume or RunFolder(run_dir).is_run():
            _check_resume(run_dir, flags, config, preset)
        else:
            _new_run(flags, config, preset, run_dir, quiet)
    display = TrainingDisplay(interactive(quiet), run_name=run_dir.name)
    try:
        result = train_multiworker(
            run_dir, epochs=flags["epochs"], callbacks=[display], timeout=timeout, warn=display.warn
        )
    finally:
        display.close()
    _report(result, run_dir)


def _report(result, target: Path) -> None:
    if result.status == "interrupted":
        console.print(f"{result.message}; continue with: kgan train --resume --run-dir {target}")
        raise typer.Exit(128 + (result.signum or signal.SIGINT))
    if result.status == "failed":
        raise KganError(result.message)
    if result.status == "stopped_early":
        console.print(result.message)
    console.print(f"finished {result.epoch} epochs ({result.step} steps) in {target}; samples in {target / 'samples'}")
