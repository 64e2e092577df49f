"""`kgan sample`, `kgan export`, `kgan serve`: images from a run, a SavedModel or TF Serving;
the export for TF Serving; a local REST stand-in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.options import DEFAULT_CHECKPOINT, Checkpoint, Json, RunDir
from cli.ui import console, import_tensorflow, warn
from kgan.errors import KganError


def sample(
    run_dir: RunDir = None,
    saved_model: Annotated[Path | None, typer.Option(help="An exported generator (version or base folder).")] = None,
    server: Annotated[str | None, typer.Option(help="TF Serving REST base URL, e.g. http://localhost:8501.")] = None,
    model: Annotated[str, typer.Option(help="Model name on the server.")] = "generator",
    checkpoint: Checkpoint = DEFAULT_CHECKPOINT,
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
    attr: Annotated[
        list[str] | None,
        typer.Option(
            "--attr",
            help="A conditional model's attribute, ATTRIBUTE=VALUE (repeatable), e.g. hair_colour=blue; "
            "the others are drawn from the training images' shares.",
        ),
    ] = None,
    grid_by: Annotated[
        str | None,
        typer.Option(
            help="A conditional model's grid: one row per value of this attribute; each column keeps "
            "one z and the other attributes (about --n images in all)."
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Images from a run, an exported SavedModel or TF Serving: a grid, single files or a latent walk;
    a conditional model's with the attributes asked for."""
    import_tensorflow()
    from kgan import runs
    from kgan.sampling import check_count, fixed_noise, image_grid, save_individual, save_png, save_strip_or_gif
    from kgan.serving import sources as samplers

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
    facts = {"seed": seed, "source": source.kind, "description": source.description, "checkpoint": source.checkpoint}
    if source.provenance is not None:
        facts["provenance"] = source.provenance
    if (attr or grid_by) and not source.attributes:
        raise KganError(
            "--attr and --grid-by steer a conditional model, and this one was trained without --condition: "
            "drop them, or train with --condition"
        )
    if interpolate and grid_by:
        raise KganError("--grid-by makes a grid, --interpolate a walk: give one of them")
    z, values, columns = fixed_noise(seed, n, source.z_dim), None, None
    if source.attributes:
        z, values, columns = samplers.conditional_inputs(source, 1 if interpolate else n, seed, attr or [], grid_by)
        facts["attributes"] = values
    if interpolate:
        ends = fixed_noise(seed, 1, source.z_dim), fixed_noise(seed + 1, 1, source.z_dim)
        walk = {name: column * interpolate for name, column in values.items()} if values else None
        frames = source(samplers.slerp(ends[0][0], ends[1][0], interpolate), walk)
        save_strip_or_gif(out, frames)
        if as_json:
            print(json.dumps({**facts, "path": str(out), "frames": interpolate, "seed_end": seed + 1}))
            return
        console.print(
            f"wrote a {interpolate}-frame latent walk (seed {seed} → {seed + 1}) from {source.description} to {out}"
        )
        return
    images = source(z, values)
    n = len(images)
    grid = image_grid(images, columns=columns)
    save_png(out, grid)
    if show:
        from cli.terminal_image import half_blocks

        console.print(half_blocks(grid, width=min(console.width, 96)))
    if individual:
        save_individual(individual, images)
    if as_json:
        print(json.dumps({**facts, "path": str(out), "n": n, "individual": str(individual) if individual else None}))
        return
    steering = "".join(f", {request}" for request in attr or []) + (f", one row per {grid_by}" if grid_by else "")
    console.print(
        f"wrote {n} samples (seed {seed}{steering}) from {source.description} to {out}"
        + (f" and {individual}/" if individual else "")
    )


def export(
    run_dir: RunDir = None,
    out: Annotated[Path, typer.Option(help="TF Serving model base path.")] = Path("saved_models/generator"),
    version: Annotated[int | None, typer.Option(min=1, help="Version number (default: the next one).")] = None,
    checkpoint: Checkpoint = DEFAULT_CHECKPOINT,
    max_images: Annotated[
        int, typer.Option(min=1, help="Images per request the signatures accept (a bound on a server's memory).")
    ] = 1024,
    as_json: Json = False,
) -> None:
    """Export the generator as a SavedModel for TF Serving (OUT/<version>/saved_model.pb)."""
    import_tensorflow()
    from kgan import runs
    from kgan.runs.folder import RunFolder
    from kgan.serving.export import export_run, signatures
    from kgan.training.checkpoint import summary as checkpoint_summary

    target = runs.resolve_run(run_dir)
    path, origin = export_run(target, out, version, checkpoint, max_images)
    if as_json:
        config = runs.load_config(target)
        record = {"path": str(path), "version": int(path.name), "run": str(target), "checkpoint": origin["checkpoint"]}
        served = signatures(config.z_dim, config.image_size, RunFolder(target).conditions())
        record.update(max_images=max_images, signatures=served, provenance=origin)
        print(json.dumps(record))
        return
    console.print(
        f"exported {target.name} ({checkpoint_summary(origin['checkpoint'])}) to {path}; serve it with TF Serving "
        f"(model base path {Path(out).resolve()}) or `kgan serve --model-base-path {out}`"
    )


def serve(
    model_base_path: Annotated[Path, typer.Option(help="Folder of version subfolders (kgan export --out).")] = Path(
        "saved_models/generator"
    ),
    model: Annotated[str, typer.Option(help="Model name in the URL.")] = "generator",
    host: Annotated[
        str, typer.Option(help="Address to listen on (IPv4); anything but loopback opens it to the network.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port.")] = 8501,
    allow_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="A web page origin allowed to call the server from a browser (CORS), e.g. "
            "http://localhost:3000; repeat for several, * for any. Others are refused."
        ),
    ] = None,
) -> None:
    """Serve an export with TF Serving's REST predict API (a local stand-in, no Docker needed)."""
    import_tensorflow()
    from kgan.serving.server import PredictServer, is_loopback

    if not is_loopback(host):
        warn(
            f"listening on {host}: anyone who can reach this machine can run the model; "
            "kgan serve is a stand-in, use TF Serving in production"
        )
    try:
        server = PredictServer(model_base_path, model, host=host, port=port, allow_origins=tuple(allow_origin or ()))
    except OSError as error:
        reason = error.strerror or str(error)
        raise KganError(f"cannot listen on {host}:{port} ({reason}); pick another --port or --host") from None
    console.print(f"serving {model} version {server.version} at {server.url}/v1/models/{model}:predict (Ctrl-C stops)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
