"""`kgan`: prepare data, train, sample and benchmark from the command line.

Every error a user can cause prints one line on stderr and exits with code 2.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is imported anywhere

import typer

from cli.ui import (
    ByteProgress,
    CountProgress,
    console,
    err_console,
    import_tensorflow,
    interactive,
    warn,
)
from kgan.config import JIT_MODES, LOSSES, NORMS, OPTIMIZERS, PRECISIONS, PRESETS, STRATEGIES, VARIANTS
from kgan.errors import KganError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train, evaluate and serve anime-avatar GANs (DCGAN and WGAN-GP).",
)
data_app = typer.Typer(no_args_is_help=True, help="Prepare, fetch or draw datasets.")
bench_app = typer.Typer(help="Print throughput figures (all of them without a subcommand).")
app.add_typer(data_app, name="data")
app.add_typer(bench_app, name="bench")


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum of the config's allowed values, so Typer validates and lists them."""
    return Enum(name, {value: value for value in values}, type=str)


Variant = _choices("Variant", VARIANTS)
Loss = _choices("Loss", LOSSES)
Norm = _choices("Norm", NORMS)
Optimizer = _choices("Optimizer", OPTIMIZERS)
Preset = _choices("Preset", tuple(PRESETS))
Precision = _choices("Precision", PRECISIONS)
JitMode = _choices("JitMode", JIT_MODES)
StrategyName = _choices("StrategyName", STRATEGIES)
PAPER, DCGAN, FLOAT32 = Preset("paper"), Variant("dcgan"), Precision("float32")


def _report_ingest(dataset, report) -> None:
    counts = dataset.manifest["split_counts"]
    console.print(
        f"prepared {dataset.folder}: {report.used} images "
        f"(train {counts['train']}, val {counts['val']}, test {counts['test']}), "
        f"{report.duplicates} duplicates dropped, {len(report.skipped)} skipped"
    )
    for reason, count in sorted(report.reason_counts().items()):
        console.print(f"  skipped {count}: {reason}")


@data_app.command("prepare")
def data_prepare(
    source: Annotated[str, typer.Argument(help="A folder, .zip, .tar(.gz) or http(s) URL of images.")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the prepared dataset.")],
    size: Annotated[int, typer.Option(min=8, max=1024, help="Stored square size in pixels.")] = 96,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random split.")] = 0,
    val: Annotated[
        int | None, typer.Option(min=0, help="Validation images (default: 2000, or 10% of small sets).")
    ] = None,
    test: Annotated[int | None, typer.Option(min=0, help="Test images (default: as --val).")] = None,
    max_pixels: Annotated[
        int, typer.Option(min=1, help="Refuse images with more pixels (decompression bombs).")
    ] = 40_000_000,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing prepared dataset at --out.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Ingest images into a prepared dataset with a seeded, content-disjoint train/val/test split."""
    from kgan.data.prepare import prepare

    live = interactive(quiet)
    with ByteProgress("download", live) as bytes_bar, CountProgress("images", live) as counter:
        dataset, report = prepare(
            source,
            out,
            size=size,
            seed=seed,
            val=val,
            test=test,
            max_pixels=max_pixels,
            overwrite=overwrite,
            download_progress=bytes_bar,
            progress=counter,
        )
    _report_ingest(dataset, report)


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name: anime-faces (the paper's 71,314 faces).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the prepared dataset.")],
    seed: Annotated[int, typer.Option(min=0, help="Seed of the random split.")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing prepared dataset at --out.")] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Download a known dataset (resumable), then prepare it."""
    from kgan.data.fetch import fetch

    live = interactive(quiet)
    with ByteProgress(name, live) as bytes_bar, CountProgress("images", live) as counter:
        dataset, report = fetch(
            name, out, overwrite=overwrite, download_progress=bytes_bar, progress=counter, seed=seed
        )
    _report_ingest(dataset, report)


@data_app.command("synthetic")
def data_synthetic(
    out: Annotated[Path, typer.Option("--out", help="Folder for the prepared dataset.")],
    count: Annotated[int, typer.Option(min=10, max=2_000_000, help="Number of avatars.")] = 12_000,
    seed: Annotated[int, typer.Option(min=0, help="Drawing and split seed.")] = 0,
    val: Annotated[int | None, typer.Option(min=0, help="Validation images (default: 10%, at most 2000).")] = None,
    test: Annotated[int | None, typer.Option(min=0, help="Test images (default: as --val).")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
) -> None:
    """Draw procedural anime-style avatars (96×96) with their attributes, as a prepared dataset."""
    from kgan.data.synthetic import write_synthetic

    with CountProgress("avatars", interactive(quiet), total=count) as counter:
        dataset = write_synthetic(out, count, seed, val=val, test=test, progress=counter)
    counts = dataset.manifest["split_counts"]
    console.print(
        f"drew {dataset.manifest['count']} avatars into {out} "
        f"(train {counts['train']}, val {counts['val']}, test {counts['test']}); "
        f"attributes in {out / 'attributes.csv'}"
    )


@app.command()
def train(
    variant: Annotated[Variant | None, typer.Option(help="dcgan (Table 1) or wgangp (Table 2).")] = None,
    data: Annotated[str | None, typer.Option(help="Prepared dataset folder, or 'synthetic'.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Epochs to train (paper: at most 80).")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Batch size (paper: 128).")] = None,
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: a new one under runs/).")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of weights, data order and noise.")] = None,
    resume: Annotated[
        bool, typer.Option(help="Continue the run (latest, or --run-dir) from its last checkpoint.")
    ] = False,
    config: Annotated[Path | None, typer.Option(help="JSON or TOML file of config values.")] = None,
    preset: Annotated[
        Preset, typer.Option(help="paper: the paper's settings; quick: a small model for a CPU demo.")
    ] = PAPER,
    image_size: Annotated[int | None, typer.Option(help="32, 64 (paper) or 128.")] = None,
    g_width: Annotated[int | None, typer.Option(min=1, help="Generator base width (ngf).")] = None,
    d_width: Annotated[int | None, typer.Option(min=1, help="Discriminator base width (ndf).")] = None,
    d_norm: Annotated[Norm | None, typer.Option(help="Discriminator normalisation.")] = None,
    loss: Annotated[Loss | None, typer.Option(help="bce (sigmoid D) or wasserstein (linear critic).")] = None,
    gp_weight: Annotated[float | None, typer.Option(min=0, help="Gradient penalty λ (0: off).")] = None,
    n_critic: Annotated[int | None, typer.Option(min=1, help="D steps per G step.")] = None,
    optimizer: Annotated[Optimizer | None, typer.Option(help="adam or rmsprop.")] = None,
    lr_g: Annotated[float | None, typer.Option(min=0, help="Generator learning rate.")] = None,
    lr_d: Annotated[float | None, typer.Option(min=0, help="Discriminator learning rate.")] = None,
    beta1: Annotated[float | None, typer.Option(help="Adam β1.")] = None,
    beta2: Annotated[float | None, typer.Option(help="Adam β2.")] = None,
    ema: Annotated[float | None, typer.Option(help="Generator EMA decay, e.g. 0.999 (0: off).")] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(min=0, help="Steps per epoch (0: one pass).")] = None,
    deterministic: Annotated[bool | None, typer.Option(help="Deterministic ops (bitwise-reproducible on CPU).")] = None,
    precision: Annotated[Precision | None, typer.Option(help="float32, mixed_float16 or mixed_bfloat16.")] = None,
    jit_compile: Annotated[JitMode | None, typer.Option(help="XLA: on, off, or auto (Keras decides).")] = None,
    strategy: Annotated[
        StrategyName | None, typer.Option(help="auto (mirrored over >1 GPU), default (one device), mirrored.")
    ] = None,
    fid_every: Annotated[int | None, typer.Option(min=0, help="Validation FID every N epochs (0: off).")] = None,
    fid_samples: Annotated[int | None, typer.Option(min=2, help="Images per validation FID (paper: 2000).")] = None,
    patience: Annotated[
        int | None, typer.Option(min=0, help="Early stop after N epochs without better val FID (0: never).")
    ] = None,
    features: Annotated[
        str | None, typer.Option(help="FID features: inception, random-inception-v3, or a model path.")
    ] = None,
    inception: Annotated[
        str | None, typer.Option(help="Local copy of the FID Inception module (else $KGAN_INCEPTION, else TF Hub).")
    ] = None,
    quiet: Annotated[bool, typer.Option(help="Plain log lines instead of live progress.")] = False,
) -> None:
    """Train a GAN (new run, or --resume), writing checkpoints, samples and metrics to the run folder."""
    import_tensorflow()
    from cli.train_view import TrainingDisplay
    from kgan import runs
    from kgan.config import TrainConfig, read_config_file
    from kgan.data.default import DEFAULT_COUNT, resolve_dataset
    from kgan.train import create_run
    from kgan.train import train as train_run

    overrides = {
        "variant": variant.value if variant else None,
        "data": data,
        "epochs": epochs,
        "batch_size": batch_size,
        "seed": seed,
        "image_size": image_size,
        "g_width": g_width,
        "d_width": d_width,
        "d_norm": d_norm.value if d_norm else None,
        "loss": loss.value if loss else None,
        "gp_weight": gp_weight,
        "n_critic": n_critic,
        "optimizer": optimizer.value if optimizer else None,
        "lr_g": lr_g,
        "lr_d": lr_d,
        "beta1": beta1,
        "beta2": beta2,
        "ema": ema,
        "steps_per_epoch": steps_per_epoch,
        "deterministic": deterministic,
        "precision": precision.value if precision else None,
        "jit_compile": jit_compile.value if jit_compile else None,
        "strategy": strategy.value if strategy else None,
        "fid_every": fid_every,
        "fid_samples": fid_samples,
        "patience": patience,
        "features": features,
        "inception": inception,
    }
    multiworker = overrides["strategy"] == "multiworker"
    if multiworker:
        from kgan.multiworker import cluster_role, wait_for_run

        if run_dir is None:
            raise KganError("--strategy multiworker needs --run-dir: a folder that every worker can reach")
        _, _, chief = cluster_role()
        if not chief:  # the chief creates the run; the others train it with the chief's config
            wait_for_run(run_dir, timeout=300)
            overrides = dict.fromkeys(overrides)
            config, preset, resume = None, PAPER, True
        elif (run_dir / "config.json").is_file():
            resume = True
            overrides["strategy"] = None
    if resume:
        changed = sorted(k for k, v in overrides.items() if v is not None and k != "epochs")
        if changed or config or preset != PAPER:
            names = ", ".join("--" + k.replace("_", "-") for k in changed) or "--config/--preset"
            raise KganError(f"{names} cannot change on --resume (the run keeps its config); only --epochs can")
        target = runs.resolve_run(run_dir)
    else:
        file_values = read_config_file(config) if config else {}
        chosen = overrides["variant"] or file_values.get("variant", "dcgan")
        settings = TrainConfig.for_variant(chosen).with_overrides(**PRESETS[preset.value])
        settings = settings.with_overrides(**file_values).with_overrides(**overrides).validate()
        live = interactive(quiet)
        with CountProgress("drawing the default synthetic dataset", live, total=DEFAULT_COUNT) as counter:
            dataset = resolve_dataset(settings.data, progress=counter)
        target = create_run(settings, dataset, run_dir)
        console.print(f"run {target} ({settings.variant}, data {dataset.folder})")
    display = TrainingDisplay(interactive(quiet), run_name=target.name)
    try:
        if runs.load_config(target).strategy == "multiworker":
            from kgan.multiworker import train_multiworker

            timeout = float(os.environ.get("KGAN_WORKER_TIMEOUT", "60"))
            result = train_multiworker(target, epochs=epochs, callbacks=[display], timeout=timeout, warn=warn)
        else:
            result = train_run(target, epochs=epochs, callbacks=[display], warn=warn)
    finally:
        display.close()
    if result.status == "interrupted":
        console.print(f"{result.message}; continue with: kgan train --resume --run-dir {target}")
        raise typer.Exit(130)
    if result.status == "failed":
        raise KganError(result.message)
    if result.status == "stopped_early":
        console.print(result.message)
    console.print(f"finished {result.epoch} epochs ({result.step} steps) in {target}; samples in {target / 'samples'}")


@app.command()
def sample(
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the latest run).")] = None,
    saved_model: Annotated[Path | None, typer.Option(help="An exported generator (version or base folder).")] = None,
    server: Annotated[str | None, typer.Option(help="TF Serving REST base URL, e.g. http://localhost:8501.")] = None,
    model: Annotated[str, typer.Option(help="Model name on the server.")] = "generator",
    checkpoint: Annotated[str, typer.Option(help="With a run: last, best, or a checkpoint folder.")] = "last",
    n: Annotated[int, typer.Option("--n", help="Number of images.")] = 64,
    out: Annotated[
        Path, typer.Option(help="Output file: PNG grid (or, with --interpolate, .gif or .png strip).")
    ] = Path("samples.png"),
    seed: Annotated[
        int | None, typer.Option(min=0, help="Noise seed (default: the run's seed, i.e. its epoch grids).")
    ] = None,
    individual: Annotated[Path | None, typer.Option(help="Also write one PNG per image into this folder.")] = None,
    interpolate: Annotated[
        int | None, typer.Option(min=2, max=1000, help="Write a latent walk of K frames from seed to seed+1.")
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per server request.")] = 30.0,
    show: Annotated[bool, typer.Option(help="Also draw the grid in the terminal (truecolor half-blocks).")] = False,
) -> None:
    """Images from a run, an exported SavedModel or TF Serving: a grid, single files or a latent walk."""
    import_tensorflow()
    from kgan import runs, samplers
    from kgan.sampling import check_count, fixed_noise, image_grid, save_individual, save_png, save_strip_or_gif

    check_count(n)
    if sum(x is not None for x in (run_dir, saved_model, server)) > 1:
        raise KganError("give only one of --run-dir, --saved-model and --server")
    default_seed = 0
    if server:
        source = samplers.from_server(server, model, timeout=timeout)
    elif saved_model:
        source = samplers.from_saved_model(saved_model)
    else:
        target = runs.resolve_run(run_dir)
        default_seed = runs.load_config(target).seed
        source = samplers.from_run(target, checkpoint)
    seed = default_seed if seed is None else seed
    if interpolate:
        ends = fixed_noise(seed, 1, source.z_dim), fixed_noise(seed + 1, 1, source.z_dim)
        frames = source(samplers.slerp(ends[0][0], ends[1][0], interpolate))
        save_strip_or_gif(out, frames)
        console.print(
            f"wrote a {interpolate}-frame latent walk (seed {seed} → {seed + 1}) from {source.description} to {out}"
        )
        return
    images = source(fixed_noise(seed, n, source.z_dim))
    grid = image_grid(images)
    save_png(out, grid)
    if show:
        from cli.terminal_image import half_blocks

        console.print(half_blocks(grid, width=min(console.width, 96)))
    if individual:
        save_individual(individual, images)
    console.print(
        f"wrote {n} samples (seed {seed}) from {source.description} to {out}"
        + (f" and {individual}/" if individual else "")
    )


@app.command()
def export(
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the latest run).")] = None,
    out: Annotated[Path, typer.Option(help="TF Serving model base path.")] = Path("saved_models/generator"),
    version: Annotated[int | None, typer.Option(min=1, help="Version number (default: the next one).")] = None,
    checkpoint: Annotated[str, typer.Option(help="best (by val FID), last, or a checkpoint folder.")] = "best",
) -> None:
    """Export the generator as a SavedModel for TF Serving (OUT/<version>/saved_model.pb)."""
    import_tensorflow()
    from kgan import runs
    from kgan.export import export_run

    target = runs.resolve_run(run_dir)
    path, description = export_run(target, out, version, checkpoint)
    console.print(
        f"exported {target.name} ({description}) to {path}; serve it with TF Serving "
        f"(model base path {Path(out).resolve()}) or `kgan serve --model-base-path {out}`"
    )


@app.command()
def serve(
    model_base_path: Annotated[Path, typer.Option(help="Folder of version subfolders (kgan export --out).")] = Path(
        "saved_models/generator"
    ),
    model: Annotated[str, typer.Option(help="Model name in the URL.")] = "generator",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port on 127.0.0.1.")] = 8501,
) -> None:
    """Serve an export on 127.0.0.1 with TF Serving's REST predict API (a local stand-in, no Docker needed)."""
    import_tensorflow()
    from kgan.rest_server import PredictServer

    try:
        server = PredictServer(model_base_path, model, port=port)
    except OSError as error:
        raise KganError(f"cannot listen on 127.0.0.1:{port} ({error.strerror}); pick another --port") from None
    console.print(f"serving {model} version {server.version} at {server.url}/v1/models/{model}:predict (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()


@app.command("runs")
def list_runs(
    root: Annotated[Path | None, typer.Option(help="Folder of runs (default: runs/ or $KGAN_RUNS_DIR).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON list.")] = False,
) -> None:
    """A table of runs: variant, data, epochs, best val FID and its epoch, test FID, status."""
    from rich.table import Table

    from kgan.report import list_runs as summaries

    rows = summaries(root)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        console.print("no runs yet: start one with `kgan train`")
        return
    table = Table(title="kgan runs")
    for column in ("run", "variant", "data", "epochs", "best val FID", "test FID", "status"):
        table.add_column(column, justify="right" if "FID" in column or column == "epochs" else "left")
    for row in rows:
        best = f"{row['best_val_fid']:.3f} (ep {row['best_epoch']})" if row["best_val_fid"] is not None else "—"
        test = f"{row['test_fid']:.3f}" if row["test_fid"] is not None else "—"
        table.add_row(
            row["name"],
            str(row["variant"]),
            row["data"],
            f"{row['epochs']}/{row['epochs_planned']}",
            best,
            test,
            row["status"],
        )
    console.print(table)


@app.command()
def report(
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the latest run).")] = None,
) -> None:
    """PNG plots of losses and FID, and one self-contained HTML page, in <run>/report/."""
    from kgan import runs
    from kgan.report import write_report

    target = runs.resolve_run(run_dir)
    page = write_report(target)
    console.print(f"wrote {page} (plots beside it)")


class Split(str, Enum):
    val = "val"
    test = "test"


@app.command()
def fid(
    run_dir: Annotated[Path | None, typer.Option(help="Run folder (default: the latest run).")] = None,
    split: Annotated[Split, typer.Option(help="Real images to compare with.")] = Split.test,
    checkpoint: Annotated[str, typer.Option(help="best (by val FID), last, or a checkpoint folder.")] = "best",
    samples: Annotated[int | None, typer.Option(min=2, help="Images per side (default: the split's size).")] = None,
    features: Annotated[
        str | None, typer.Option(help="inception, random-inception-v3, or a model path (default: the run's).")
    ] = None,
    inception: Annotated[str | None, typer.Option(help="Local copy of the FID Inception module.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Extraction batch size.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """FID and KID of a run's generator against the val or test split (TF-GAN)."""
    import_tensorflow()
    from rich.table import Table

    from kgan import runs
    from kgan.metrics.evaluate import evaluate_run

    target = runs.resolve_run(run_dir)
    result, description = evaluate_run(
        target,
        split=split.value,
        checkpoint_choice=checkpoint,
        samples=samples,
        features=features,
        inception=inception,
        batch_size=batch_size,
    )
    record = {**result.to_dict(), "checkpoint": description, "run": str(target)}
    if as_json:
        print(json.dumps(record))
        return
    table = Table(title=f"kgan fid — {target.name}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("FID", f"{result.fid:.3f}")
    table.add_row("KID", f"{result.kid:.5f} ± {result.kid_std:.5f}")
    for name in ("n_real", "n_generated", "features", "split"):
        table.add_row(name.replace("_", " "), str(record[name]))
    table.add_row("checkpoint", description)
    console.print(table)
    if not result.comparable:
        console.print(
            "note: these features are not the standard FID Inception; the numbers are not comparable "
            "with published FIDs"
        )


@bench_app.callback(invoke_without_command=True)
def bench_everything(
    context: typer.Context,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 128,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps per measurement.")] = 8,
    warmup: Annotated[int, typer.Option(min=1, help="Untimed steps first.")] = 3,
    features: Annotated[str, typer.Option(help="FID features to time ('none' skips).")] = "random-inception-v3",
    data: Annotated[str, typer.Option(help="Prepared dataset for the pipeline figures.")] = "synthetic",
    precision: Annotated[
        Precision, typer.Option(help="float32, mixed_float16 or mixed_bfloat16 (PyTorch autocasts to match).")
    ] = FLOAT32,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Both variants at 64×64: train step (kgan and the PyTorch reference), pipeline, FID features, peak RSS.

    Each figure is measured in a fresh process of its own."""
    if context.invoked_subcommand is not None:
        return
    import_tensorflow()
    from rich.table import Table

    from kgan.bench import bench_all
    from kgan.data.default import resolve_dataset

    dataset = resolve_dataset(data)
    with CountProgress("measuring, each part in a fresh process", interactive()) as progress:
        figures = bench_all(
            dataset,
            batch_size,
            steps,
            warmup,
            None if features == "none" else features,
            precision=precision.value,
            progress=progress,
        )
    if as_json:
        print(json.dumps(figures))
        return
    table = Table(title=f"kgan bench — 64×64, batch {batch_size}, {precision.value}")
    for column in (
        "variant",
        "kgan fit img/s",
        "bare step img/s",
        "PyTorch img/s",
        "kgan / PyTorch",
        "pipeline img/s",
        "pipeline / step",
        "peak RSS MB",
    ):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for variant, row in figures["variants"].items():
        table.add_row(
            variant,
            str(row["fit_step_images_per_sec"]),
            str(row["plain_step_images_per_sec"]),
            str(row["pytorch_step_images_per_sec"] or "—"),
            str(row["kgan_over_pytorch"] or "—"),
            str(row["pipeline_images_per_sec"]),
            f"{row['pipeline_over_step']}×",
            str(row["kgan_peak_rss_mb"]),
        )
    console.print(table)
    if "fid_features" in figures:
        console.print(
            f"FID features ({figures['fid_features']}): {figures['fid_features_images_per_sec']} img/s at 299×299"
        )
    console.print(f"peak RSS of training (largest of the two kgan processes): {figures['training_peak_rss_mb']} MB")
    if "pytorch" in figures:
        console.print(f"PyTorch reference {figures['pytorch']}")


@bench_app.command("fid")
def bench_fid(
    features: Annotated[
        str, typer.Option(help="inception, random-inception-v3, or a model path.")
    ] = "random-inception-v3",
    inception: Annotated[str | None, typer.Option(help="Local copy of the FID Inception module.")] = None,
    samples: Annotated[int, typer.Option(min=2, help="Generated images for the timed FID.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, help="Extraction batch size.")] = 50,
    data: Annotated[str, typer.Option(help="Prepared dataset (its val split is the reference).")] = "synthetic",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Feature-extraction images/s and the wall time of a validation FID with cached real statistics."""
    import_tensorflow()

    from kgan.bench import bench_fid as run_bench
    from kgan.data.default import resolve_dataset

    _print_figures(
        "kgan bench fid", run_bench(resolve_dataset(data), features, inception, samples, batch_size), as_json
    )


@bench_app.command("train")
def bench_train(
    variant: Annotated[Variant, typer.Option(help="Variant to measure.")] = DCGAN,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 128,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps.")] = 8,
    warmup: Annotated[int, typer.Option(min=1, help="Untimed steps first (tracing, allocation).")] = 3,
    data: Annotated[str, typer.Option(help="Prepared dataset for the pipeline figure.")] = "synthetic",
    precision: Annotated[Precision, typer.Option(help="float32, mixed_float16 or mixed_bfloat16.")] = FLOAT32,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Train-step images/s (fit and bare tf.function) and input-pipeline images/s at 64×64."""
    import_tensorflow()

    from kgan.bench import bench_train as run_bench
    from kgan.data.default import resolve_dataset

    figures = run_bench(resolve_dataset(data), variant.value, batch_size, steps, warmup, precision.value)
    _print_figures(f"kgan bench train — {variant.value}, 64×64, batch {batch_size}", figures, as_json)


def _print_figures(title: str, figures: dict, as_json: bool) -> None:
    """A two-column table of benchmark figures, or one JSON object."""
    from rich.table import Table

    if as_json:
        print(json.dumps(figures))
        return
    table = Table(title=title)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    console.print(table)


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
