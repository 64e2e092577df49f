"""`kgan bench`: throughput and memory figures, each measured in a fresh process."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.config_options import choices
from cli.options import DEFAULT_CHECKPOINT, Checkpoint, Inception, Json, RunDir
from cli.ui import CountProgress, console, import_tensorflow, interactive
from kgan.config import PRECISIONS, VARIANTS
from kgan.system import cpu

app = typer.Typer(help="Print throughput figures (all of them without a subcommand).")
Variant = choices("Variant", VARIANTS)
Precision = choices("Precision", PRECISIONS)
DCGAN, FLOAT32 = Variant("dcgan"), Precision("float32")


@app.callback(invoke_without_command=True)
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
    as_json: Json = False,
) -> None:
    """Both variants at 64×64: train step (kgan and the PyTorch reference), pipeline, FID features, peak RSS.

    Each figure is measured in a fresh process of its own."""
    if context.invoked_subcommand is not None:
        return
    import_tensorflow()

    from kgan.bench.measure import bench_all
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
    _show_everything(figures, batch_size, precision.value)


def _show_everything(figures: dict, batch_size: int, precision: str) -> None:
    """`kgan bench`'s tables: the step against PyTorch, memory, the CPU's limit, then one-liners."""
    console.print(
        f"CPU: {figures['cpu']} ({', '.join(figures['isa']) or 'no AVX2'}); {figures['convolution_backend']}; "
        f"bfloat16 {figures['bfloat16']}"
    )
    if precision == "mixed_bfloat16" and figures["bfloat16"] == "emulated":
        console.print(cpu.bfloat16_emulated_warning())
    variants = figures["variants"].items()
    steps = [
        (
            variant,
            str(row["fit_step_images_per_sec"]),
            str(row["plain_step_images_per_sec"]),
            str(row["pytorch_step_images_per_sec"] or "—"),
            str(row["kgan_over_pytorch"] or "—"),
            str(row["pipeline_images_per_sec"]),
            f"{row['pipeline_over_step']}×",
            f"{row['kgan_peak_rss_mb']:.0f} / {row['kgan_bare_peak_rss_mb']:.0f} / "
            + (f"{row['pytorch_peak_rss_mb']:.0f}" if row.get("pytorch_peak_rss_mb") else "—"),
        )
        for variant, row in variants
    ]
    columns = ("variant", "kgan fit img/s", "bare step img/s", "PyTorch img/s", "kgan / PyTorch")
    columns += ("pipeline img/s", "pipeline / step", "peak RSS MB fit / bare / PyTorch")
    console.print(_figures_table(f"kgan bench — 64×64, batch {batch_size}, {precision}", columns, steps))
    memory = [_memory_row(variant, row) for variant, row in variants]
    columns = ("variant", "kgan bare peak", "TensorFlow import", "kgan step's own")
    columns += ("PyTorch peak", "PyTorch import", "PyTorch step's own")
    console.print(_figures_table("memory (RSS MB): the framework's import and what the step adds", columns, memory))
    limits = [
        (
            variant,
            str(row["step_gflop"]),
            str(row["kgan_gflops"]),
            f"{row['kgan_of_limit']:.0%}",
            str(row.get("pytorch_gflops", "—")),
            f"{row['pytorch_of_limit']:.0%}" if row.get("pytorch_of_limit") else "—",
        )
        for variant, row in variants
    ]
    limit, dtype = figures["wide_convolution_gflops"], figures["wide_convolution_dtype"]
    title = f"against this CPU's limit: the fastest wide convolution alone in {dtype}, {limit} GFLOP/s"
    columns = ("variant", "GFLOP / step", "kgan GFLOP/s", "kgan of limit", "PyTorch GFLOP/s", "PyTorch of limit")
    console.print(_figures_table(title, columns, limits))
    if "fid_features" in figures:
        console.print(
            f"FID features ({figures['fid_features']}): {figures['fid_features_images_per_sec']} img/s at 299×299"
        )
    console.print(
        f"peak RSS of training (largest of the two kgan fit processes, the split in RAM): "
        f"{figures['training_peak_rss_mb']} MB; bare steps hold no data, as the PyTorch reference"
    )
    if "pytorch" in figures:
        console.print(f"PyTorch reference {figures['pytorch']}")


@app.command("fid")
def bench_fid(
    features: Annotated[
        str, typer.Option(help="inception, random-inception-v3, or a model path.")
    ] = "random-inception-v3",
    inception: Inception = None,
    samples: Annotated[int, typer.Option(min=2, help="Generated images for the timed FID.")] = 2000,
    batch_size: Annotated[int, typer.Option(min=1, help="Extraction batch size.")] = 50,
    data: Annotated[str, typer.Option(help="Prepared dataset (its val split is the reference).")] = "synthetic",
    as_json: Json = False,
) -> None:
    """Feature-extraction images/s and the wall time of a validation FID with cached real statistics."""
    import_tensorflow()

    from kgan.bench.measure import bench_fid as run_bench
    from kgan.data.default import resolve_dataset

    _print_figures(
        "kgan bench fid", run_bench(resolve_dataset(data), features, inception, samples, batch_size), as_json
    )


@app.command("train")
def bench_train(
    variant: Annotated[Variant, typer.Option(help="Variant to measure.")] = DCGAN,
    batch_size: Annotated[int, typer.Option(min=1, help="Batch size.")] = 128,
    steps: Annotated[int, typer.Option(min=1, help="Timed steps.")] = 8,
    warmup: Annotated[int, typer.Option(min=1, help="Untimed steps first (tracing, allocation).")] = 3,
    data: Annotated[str, typer.Option(help="Prepared dataset for the pipeline figure.")] = "synthetic",
    precision: Annotated[Precision, typer.Option(help="float32, mixed_float16 or mixed_bfloat16.")] = FLOAT32,
    as_json: Json = False,
) -> None:
    """Train-step images/s (fit and bare tf.function) and input-pipeline images/s at 64×64, each
    in a fresh process, with their peak RSS."""
    import_tensorflow()

    from kgan.bench.measure import bench_variant
    from kgan.data.default import resolve_dataset

    figures = bench_variant(resolve_dataset(data), variant.value, batch_size, steps, warmup, precision.value)
    _print_figures(f"kgan bench train — {variant.value}, 64×64, batch {batch_size}", figures, as_json)


@app.command("prepare")
def bench_prepare(
    count: Annotated[int, typer.Option(min=10, help="JPEGs per corpus.")] = 20_000,
    size: Annotated[int, typer.Option(min=8, help="Prepared image size.")] = 96,
    as_json: Json = False,
) -> None:
    """`kgan data prepare` against a single-process PIL loop, on avatar JPEGs at 96 and 512 px.

    The corpora are drawn once and cached under ~/.cache/kgan/bench ($KGAN_CACHE_DIR)."""

    from kgan.bench.ingest import bench_prepare as run_bench

    with CountProgress("drawing corpora and measuring, each side in a fresh process", interactive()) as progress:
        figures = run_bench(count, size, progress=progress)
    if as_json:
        print(json.dumps(figures))
        return
    console.print(f"CPU: {figures['cpu']} ({', '.join(figures['isa']) or 'no AVX2'})")
    sources = [
        (
            source,
            str(row["pil_images_per_sec"]),
            str(row["kgan_images_per_sec"]),
            f"{row['kgan_over_pil']}×",
            str(row["pil_peak_rss_mb"]),
            str(row["kgan_peak_rss_mb"]),
        )
        for source, row in figures["sources"].items()
    ]
    columns = ("source", "PIL loop img/s", "kgan img/s", "kgan / PIL", "PIL peak RSS MB", "kgan peak RSS MB")
    console.print(_figures_table(f"kgan bench prepare — {count} images → {size}×{size}", columns, sources))


@app.command("draw")
def bench_draw(
    count: Annotated[int, typer.Option(min=10, help="Avatars to draw per side (the command's default).")] = 12_000,
    as_json: Json = False,
) -> None:
    """`kgan data synthetic`'s avatars/s against numpy drawing every layer over the whole
    frame on one thread (the same pixels), each side in a fresh process."""
    from kgan.bench.drawing import bench_draw as run_bench

    with CountProgress("drawing, each side in a fresh process", interactive()) as progress:
        figures = run_bench(count, progress=progress)
    if as_json:
        print(json.dumps(figures))
        return
    console.print(f"CPU: {figures['cpu']} ({', '.join(figures['isa']) or 'no AVX2'})")
    row = (
        "96×96 avatars",
        str(figures["whole_frame_avatars_per_sec"]),
        str(figures["kgan_avatars_per_sec"]),
        f"{figures['kgan_over_whole_frame']}×",
        str(figures["whole_frame_peak_rss_mb"]),
        str(figures["kgan_peak_rss_mb"]),
    )
    columns = ("", "whole frame, 1 thread /s", "kgan /s", "ratio", "whole frame RSS MB", "kgan RSS MB")
    console.print(_figures_table(f"kgan bench draw — {count} avatars", columns, [row]))
    console.print(
        f"The compiled drawing's first avatar in a fresh process: {figures['first_call_seconds']} s"
        " (loading it; compiling, once per installation and CPU, takes longer)."
    )


@app.command("steering")
def bench_steering(
    run_dir: RunDir = None,
    checkpoint: Checkpoint = DEFAULT_CHECKPOINT,
    samples: Annotated[int, typer.Option(min=10, help="Images asked for random attributes.")] = 2000,
    as_json: Json = False,
) -> None:
    """A conditional run on the embedded avatars: per attribute, how often the avatar classifier reads
    back what was asked (beside chance), and how often the others move when it changes."""
    import_tensorflow()
    from kgan import runs
    from kgan.metrics.steering import measure_run

    target = runs.resolve_run(run_dir)
    result, chosen = measure_run(target, samples, checkpoint)
    if as_json:
        print(json.dumps({"run": str(target), "checkpoint": chosen, **result.to_dict()}))
        return
    rows = [
        (
            name,
            f"{share:.1%}",
            f"{result.chance[name]:.1%}",
            _weakest_value(result.weakest(name)),
            f"{result.leakage.get(name, 0.0):.1%}",
        )
        for name, share in result.accuracy.items()
    ]
    columns = ("attribute", "read as asked", "chance", "weakest value (→ read as)", "others moved when it changes")
    console.print(_figures_table(f"kgan bench steering — {target.name}, {samples} images", columns, rows))
    worst, steered = result.worst_leakage, result.steered()
    if worst["changed"]:
        console.print(f"most moved: {worst['other']} when {worst['changed']} changes, {worst['share']:.1%} of images")
    if steered["leakage"] is not None:
        console.print(
            f"among those read back ≥ {steered['floor']:.0%} ({', '.join(steered['attributes'])}): changing one "
            f"moves another in {steered['leakage']:.1%} of images"
        )


def _weakest_value(weakest: tuple[str, float, str] | None) -> str:
    if weakest is None:
        return "—"
    value, share, instead = weakest
    return f"{value} {share:.0%}" + (f" → {instead}" if instead else "")


def _memory_row(variant: str, row: dict) -> tuple[str, ...]:
    """Peak RSS of the bare step, its framework's import, and the difference, both sides."""
    kgan_peak, kgan_import = row["kgan_bare_peak_rss_mb"], row["tensorflow_import_rss_mb"]
    figures = [kgan_peak, kgan_import, kgan_peak - kgan_import]
    torch_peak, torch_import = row.get("pytorch_peak_rss_mb"), row.get("pytorch_import_rss_mb")
    figures += [torch_peak, torch_import, torch_peak - torch_import] if torch_peak else [None] * 3
    return (variant, *("—" if figure is None else f"{figure:.0f}" for figure in figures))


def _figures_table(title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]):
    """A Rich table whose first column names each row and the rest are right-aligned figures."""
    from rich.table import Table

    table = Table(title=title)
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index else "left")
    for row in rows:
        table.add_row(*row)
    return table


def _print_figures(title: str, figures: dict, as_json: bool) -> None:
    """A two-column table of benchmark figures, or one JSON object."""
    if as_json:
        print(json.dumps(figures))
        return
    console.print(_figures_table(title, ("figure", "value"), [(key, str(value)) for key, value in figures.items()]))
