"""The edgeslm command line. Thin: parse, build a config, call a stage, render.

Exit codes: 0 success; 1 an artifact did not verify (a gate failed, or its
runtime crashed, hung or was killed); 2 bad input or usage; 3 a bug in
edgeslm; 130 interrupted (Ctrl-C); 143 terminated (SIGTERM).
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import click

from edgeslm import __version__
from edgeslm.errors import EdgeSLMError, GateFailure
from edgeslm.outputs import check_report_path

DEFAULT_BUILD_DIR = Path("build/edgeslm")


EXIT_BUG, EXIT_SIGINT, EXIT_SIGTERM = 3, 130, 143


class Terminated(BaseException):
    """SIGTERM, raised in the main thread so that every cleanup (runtime processes, partial files) runs."""


def _raise_terminated(signum, frame):  # noqa: ARG001
    raise Terminated()


class _Group(click.Group):
    """Turns errors into a clean message and exit code; --debug shows the traceback.

    EdgeSLMError: its message and hint, its exit code. Ctrl-C: 130, SIGTERM: 143.
    Anything else is a bug: one line naming the command, exit 3.
    """

    def invoke(self, ctx: click.Context):
        import signal

        signal.signal(signal.SIGTERM, _raise_terminated)
        debug = lambda: bool(ctx.obj and ctx.obj.get("debug"))  # noqa: E731 - set once main's callback ran
        try:
            return super().invoke(ctx)
        except EdgeSLMError as e:
            if debug():
                raise
            e = _worded_for_flags(e, ctx)
            click.secho(f"error: {e.message}", fg="red", err=True)
            if e.hint:
                click.echo(f"  hint: {e.hint}", err=True)
            ctx.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("\ninterrupted", err=True)
            ctx.exit(EXIT_SIGINT)
        except Terminated:
            click.echo("terminated", err=True)
            ctx.exit(EXIT_SIGTERM)
        except (click.exceptions.Exit, click.exceptions.ClickException, click.exceptions.Abort):
            raise
        except Exception as e:  # noqa: BLE001 - the last line of defence: never a raw traceback
            if debug():
                raise
            import errno

            if isinstance(e, OSError) and e.errno == errno.ENOSPC:
                click.secho(f"error: no space left on device{f' writing {e.filename}' if e.filename else ''}.", fg="red", err=True)
                click.echo("  hint: free some space, or choose an output on another disk", err=True)
                ctx.exit(2)
            sub = ctx.invoked_subcommand or "edgeslm"
            click.secho(f"error: unexpected {type(e).__name__} in `edgeslm {sub}`: {e}", fg="red", err=True)
            click.echo("  this is a bug in edgeslm: run again with --debug and report it", err=True)
            ctx.exit(EXIT_BUG)


def _worded_for_flags(e: EdgeSLMError, ctx: click.Context) -> EdgeSLMError:
    """A ConfigError names a config field; say it as the option of the command that was run, when one sets it."""
    from edgeslm.errors import ConfigError

    if not isinstance(e, ConfigError):
        return e
    sub = ctx.invoked_subcommand
    command = ctx.command.get_command(ctx, sub) if sub and isinstance(ctx.command, click.Group) else None
    wanted = {e.field, e.field.removesuffix("_s")}  # timeout_s is set by --timeout
    for p in getattr(command, "params", []):
        if isinstance(p, click.Option) and any(o.lstrip("-").replace("-", "_") in wanted for o in p.opts):
            return e.for_flag(max(p.opts, key=len))
    return e


def _progress(start: float):
    def show(msg: str) -> None:
        click.echo(f"[{time.perf_counter() - start:6.1f}s] {msg}", err=True)

    return show


def _step_bar(start: float):
    """Progress for the training loop: a live bar on a terminal, a line every 10 steps in a log."""
    tty = sys.stderr.isatty()

    def show(i) -> None:
        line = (f"step {i.step}/{i.max_steps}  loss {i.loss:.4f}  lr {i.lr:.2e}  {i.tokens_per_s:,.0f} tok/s  "
                f"eta {i.eta_s / 60:.1f} min")
        if tty:
            filled = int(24 * i.step / i.max_steps)
            click.echo(f"\r[{'#' * filled}{'.' * (24 - filled)}] {line}", nl=i.step == i.max_steps, err=True)
        elif i.step % 10 == 0 or i.step == i.max_steps:
            click.echo(f"[{time.perf_counter() - start:6.1f}s] {line}", err=True)

    return show


def _showwarning(message, category, filename, lineno, file=None, line=None):  # noqa: ARG001
    click.secho(f"warning: {message}", fg="yellow", err=True)


def _emit_json(data, dest: str | None) -> None:
    if dest is None:
        return
    from edgeslm.manifest import json_text, write_json

    if dest == "-":
        click.echo(json_text(data))
    else:
        write_json(Path(dest), data)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edgeslm")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Shrink, quantize, export and verify small language models for one specific device.

    \b
    Typical flow:
      edgeslm inspect ckpt/                      what the model is and what fits it
      edgeslm targets show pixel8                what a device profile asks for
      edgeslm export ckpt/ --format gguf --quant Q4_K_M -o model.gguf
      edgeslm verify model.gguf --reference ckpt/ --target pixel8
      edgeslm build ckpt/ --target host -o out/  all of the above for every artifact a target lists

    MODEL is always a local Hugging Face checkpoint directory (config.json,
    *.safetensors, tokenizer.json). Nothing is downloaded. No output that
    exists is replaced unless edgeslm made it and you pass --overwrite.

    \b
    Exit codes:
      0    success
      1    an artifact did not verify: a gate failed, or its runtime crashed, hung or was killed
      2    bad input or usage; the message says what and how to fix it
      3    a bug in edgeslm: run again with --debug and report it
      130  interrupted (Ctrl-C); 143 terminated (SIGTERM)
    """
    ctx.obj = {"debug": debug}
    warnings.showwarning = _showwarning
    if not debug:
        from edgeslm.util import quiet_libraries

        quiet_libraries()


_overwrite = click.option(
    "--overwrite", is_flag=True,
    help="Replace the output if it is an earlier edgeslm output (recognised by its lineage); anything else is never replaced.")


# --- inspect -------------------------------------------------------------------


@main.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--json", "json_out", metavar="PATH", help="Also write the description as JSON ('-' for stdout).")
def inspect(model: Path, json_out: str | None) -> None:
    """Describe a checkpoint: architecture, parameters per part, size per quant type, and fit.

    Reads config.json and the safetensors headers only; no weights are loaded.
    """
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.models.summary import describe
    from edgeslm.render import checkpoint_summary

    check_report_path(json_out)
    d = describe(open_checkpoint(model))
    if json_out != "-":
        click.echo(checkpoint_summary(d, str(model)))
    _emit_json(d, json_out)


# --- targets -------------------------------------------------------------------


@main.group()
def targets() -> None:
    """Device profiles: what each device runs, its budgets and its gates."""


@targets.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def targets_list(as_json: bool) -> None:
    """List the device profiles in targets/ (host is detected at run time)."""
    from dataclasses import asdict

    from edgeslm.render import targets_table
    from edgeslm.targets import list_targets, load_target

    ts = [load_target(n) for n in list_targets()]
    click.echo(json.dumps([asdict(t) for t in ts], indent=2) if as_json else targets_table(ts))


@targets.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def targets_show(name: str, as_json: bool) -> None:
    """Show one profile. NAME is a profile name or the path of a .toml/.yaml file."""
    from dataclasses import asdict

    from edgeslm.render import target_detail
    from edgeslm.targets import load_target

    t = load_target(name)
    click.echo(json.dumps(asdict(t), indent=2) if as_json else target_detail(t))


# --- export --------------------------------------------------------------------


def _export_help() -> str:
    """export's --help: one paragraph per registered format, with its quant types."""
    import textwrap

    from edgeslm.formats import all_formats

    rows = []
    for f in all_formats().values():
        quants = ", ".join(f"{q} (default)" if q == f.default_quant else q for q in f.quants)
        summary = textwrap.fill(f.summary, 76, initial_indent=f"{f.name:<11} ", subsequent_indent=" " * 12)
        rows.append(f"\b\n{summary}\n{'':<12}quant: {quants}")  # \b: click keeps each block's line breaks
    return "\n\n".join(rows)


class _ExportCommand(click.Command):
    """Fills {formats} in the help from the format registry, only when help is shown (it imports the exporters)."""

    def format_help_text(self, ctx, formatter):
        self.help = (self.help or "").replace("{formats}", _export_help())
        super().format_help_text(ctx, formatter)


@main.command(cls=_ExportCommand, help="""Export a checkpoint to a device format.

{formats}

Every artifact records its lineage (source model and sha256, the teacher it
was made from, edgeslm version, quant type). Output appears only when it is
complete.""")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--format", "fmt", default="gguf", show_default=True, help="Artifact format; the formats are listed above.")
@click.option("--quant", default=None, help="Quant type; each format's table and default are listed above.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Output: a .gguf file, or a folder for ExecuTorch and ONNX.")
@click.option("--group-size", type=int, help="ExecuTorch 8da4w weight group: 32, 64, 128 or 256. [default: 32]")
@click.option("--max-seq-len", type=int, help="ExecuTorch KV-cache length in tokens (prompt + generation). [default: 512]")
@click.option("--quantize-embeddings", is_flag=True, default=None,
              help="ExecuTorch and ONNX: quantize the embedding table too (ONNX, tied models: the 8-bit head's own blocks).")
@click.option("--embedding-bits", type=int, help="ExecuTorch --quantize-embeddings: 8 or 4 bits per value. [default: 8; 4 is half the table's size and costs far more KL on models with massive activations]")
@click.option("--embedding-group-size", type=int, help="ExecuTorch --quantize-embeddings: values per scale, a divisor of the hidden size; 0 = one scale per row (smallest, but a row's largest channel sets it). [default: 32]")
@click.option("--block-size", type=int, help="ONNX int8/int4 weights per scale: 16, 32, 64, 128 or 256. [default: 32]")
@click.option("--accuracy-level", type=int, help="ONNX int8/int4 compute: 4 = int8 activations quantized at run time (fast on CPUs), 0 = fp32. [default: 4]")
@click.option("--quantize-lm-head", is_flag=True, default=None, help="ONNX int4: quantize the output head too (smaller, less accurate).")
@click.option("--algo", help="ONNX int8/int4 weight method: default or rtn (round to nearest), k_quant (llama.cpp's scale search). [default: default]")
@click.option("--mixed-precision", metavar="SEL:TYPE,...", help="ONNX int4: these MatMuls at another type, e.g. last_matmul:int8,mixed_layers:int8 (the head; llama.cpp's sensitive layers).")
@click.option("--asymmetric", is_flag=True, default=None, help="ONNX int8/int4: a zero point per block (uint4/uint8).")
@click.option("--calibrate", is_flag=True, default=None, help="Quantize with calibration text. GGUF Q4_0/Q4_K_M/Q5_K_M/Q6_K: llama.cpp's importance matrix (llama-imatrix, then llama-quantize --imatrix). ONNX int4: each MatMul's 4-bit loss is measured (KL) and the most sensitive stay int8 (see --int8-fraction). ExecuTorch 8da8w/8da4w: SmoothQuant first (moves activation outliers into the weights, the head's included; same function in fp32) and the hidden channels reordered so group-wise scales find the massive ones together, and for 8da4w the measured most sensitive linears at 8 bits. The lineage records the text's sha256 and sample count.")
@click.option("--calibration-data", metavar="PATH", help="Text for --calibrate (file, folder or JSONL). [default: the stdlib corpus's train split]")
@click.option("--calibration-samples", type=int, help="--calibrate windows (GGUF: the text's first chunks) of 256 tokens. [default: 32; ONNX 4, as each MatMul costs a forward over them]")
@click.option("--int8-fraction", type=float, help="ONNX int4 and ExecuTorch 8da4w --calibrate: the share of the body's weights kept at 8 bits, most measured KL per weight first (0: none). [default: 0.125, about what Q4_K_M spends on Q6_K]")
@click.option("--head-bits", type=int, help="ExecuTorch 8da4w: the output head's weight bits, 4 or 8 (llama.cpp keeps its head at Q6_K). [default: 8]")
@click.option("--smooth-alpha", type=float, help="--calibrate migration strength, 0-1: higher flattens activations more, widens weights more. [default: 0.5]")
@_overwrite
def export(model: Path, fmt: str, quant: str | None, output: Path, overwrite: bool, **options) -> None:
    from edgeslm.errors import UsageError
    from edgeslm.export import export as do_export
    from edgeslm.formats import format_named
    from edgeslm.models.loader import open_checkpoint

    start = time.perf_counter()
    f = format_named(fmt)
    given = {k: v for k, v in options.items() if v is not None}
    wrong = sorted(set(given) - set(f.options))
    if wrong:
        raise UsageError(f"--{wrong[0].replace('_', '-')} does not apply to --format {fmt}.")
    art = do_export(open_checkpoint(model), f.make_config(quant, **given), output, overwrite=overwrite)
    click.echo(f"wrote {art.path} ({art.size_bytes / (1 << 20):.2f} MiB, {art.format} {art.quant}) in {time.perf_counter() - start:.1f}s")


# --- verify --------------------------------------------------------------------


_verify_opts = [
    click.option("--data", type=click.Path(path_type=Path), help="Evaluation text: a UTF-8 file, a folder, or JSONL (text, or prompt/response). Default: built-in set."),
    click.option("--ctx", "ctx_len", default=256, show_default=True, help="Tokens per accuracy window."),
    click.option("--max-tokens", default=2048, show_default=True, help="Evaluation tokens used for accuracy."),
    click.option("--runs", default=3, show_default=True, help="Timed runs after one warm-up (medians reported)."),
    click.option("--timeout", default=900.0, show_default=True, metavar="SECONDS",
                 help="Per request to the runtime process (load, one window's logits, the timed runs); past it the runtime counts as hung."),
]


def _with(opts):
    def deco(f):
        for o in reversed(opts):
            f = o(f)
        return f

    return deco


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--reference", type=click.Path(path_type=Path), required=True, help="The checkpoint the artifact was made from.")
@click.option("--target", "target_names", required=True, multiple=True,
              help="Target name (see `edgeslm targets list`) or profile file. Repeat it for a fleet: one merged report.")
@_with(_verify_opts)
@click.option("--kv-cache", type=click.Choice(["f16", "f32"]), default="f16", show_default=True, help="Runtime KV-cache precision for the accuracy pass; f16 is what devices run.")
@click.option("--jobs", default=4, show_default=True, help="Fleet: devices measured at the same time.")
@click.option("--json", "json_out", metavar="PATH", help="Write the full report as JSON ('-' for stdout).")
def verify(artifact, reference, target_names, data, ctx_len, max_tokens, runs, timeout, kv_cache, jobs, json_out) -> None:
    """Run ARTIFACT in its own runtime and compare it with the PyTorch reference.

    \b
    Accuracy, on the reference tokenizer's ids for the same text:
      mean and p99 KL(reference || artifact), top-1 agreement,
      perplexity of both and their ratio, NMSE of logits.
    Tokenizer parity: whether the runtime's own ids equal the reference's.
    Speed, in a separate process at the target's thread count: prefill
    tokens/s over a 128-token prompt and decode tokens/s over 128 new tokens
    (one warm-up, median of --runs), peak RSS, file size, and the target's
    roofline estimate beside the measurement.

    \b
    Where: on the device the target's profile names in [device] (a board
    over ssh, a phone over adb), else on this machine. A device profile
    measured on this machine says so, and its speed gates are shown but
    not applied. Several --target options verify on all of them, devices
    in parallel (--jobs), into one report; a device that cannot be reached
    fails its own row with the reason and the others go on.

    The runtime runs in a process of its own: if it crashes, hangs past
    --timeout or is killed, the report says so, with the runtime's log.

    Exits 1 when a gate of a target fails or a runtime or device fails, 2 on bad input.
    """
    from edgeslm.data import text_or_split
    from edgeslm.export import open_artifact
    from edgeslm.models.loader import load_model
    from edgeslm.targets import load_target
    from edgeslm.verify import VerifyOptions
    from edgeslm.verify.fleet import verify_fleet
    from edgeslm.verify.report import render_failures, render_gates, render_summary

    progress = _progress(time.perf_counter())
    targets = [load_target(n) for n in target_names]  # every profile checked before any work
    text = text_or_split(data, "test")
    opts = VerifyOptions(ctx=ctx_len, max_tokens=max_tokens, runs=runs, kv_cache=kv_cache, timeout_s=timeout)
    check_report_path(json_out)
    art = open_artifact(artifact)  # a broken artifact is refused before the reference is loaded
    progress(f"loading reference {reference}")
    ref = load_model(reference)
    fleet = verify_fleet(art, ref, targets, text, options=opts, jobs=jobs, progress=progress)
    reports = list(fleet.reports)
    click.echo(render_summary(reports, by_target=len(reports) > 1))
    click.echo("")
    if len(reports) == 1:
        click.echo(render_gates(reports[0]))
    elif failures := render_failures(reports, by_target=True):
        click.echo(f"failed:\n{failures}")
    for r in reports:
        if note := r.runtime.get("note"):
            click.echo(f"{r.target}: {note}")
    if json_out:
        # one target: the report itself, as before; a fleet: the merged report
        _emit_json(reports[0].to_dict() if len(reports) == 1 else fleet.to_dict(), json_out)
    bad = [r for r in reports if not r.passed]
    if len(reports) == 1 and bad and bad[0].failure:
        raise GateFailure(bad[0].failure)
    if bad:
        raise GateFailure(f"{artifact.name} did not verify on " + ", ".join(
            f"{r.target} ({'failed: ' + r.failure.split(';')[0] if r.failure else str(sum(g.failed for g in r.gates)) + ' gate(s)'})"
            for r in bad) + ".")


# --- build ---------------------------------------------------------------------


@main.command()
@click.argument("model", type=click.Path(path_type=Path), required=False)
@click.option("--target", "target_name", default="host", show_default=True, help="Target name or profile file.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=DEFAULT_BUILD_DIR, show_default=True, help="Output directory.")
@_with(_verify_opts)
@click.option("--json", "json_out", metavar="PATH", help="Also write report.json to PATH ('-' for stdout).")
@_overwrite
def build(model, target_name, output, data, ctx_len, max_tokens, runs, timeout, json_out, overwrite) -> None:
    """Export and verify every artifact a target lists, then write the reports.

    MODEL defaults to the demo teacher (examples/demo-teacher). Writes each
    artifact, report.json, report.md and manifest.json (lineage: source hash,
    recipe, data hash, artifact hashes) to the output directory. Prints one
    table with every artifact against the same reference on the same tokens.

    Each artifact runs in a runtime process of its own: one that crashes,
    hangs or is killed costs its own row (with the reason, and its log in
    OUT/logs/), and the rest of the build goes on.

    Exits 1 when any gate fails or any artifact failed, 2 on bad input.
    """
    from edgeslm.build import build as do_build
    from edgeslm.data import text_or_split
    from edgeslm.models.loader import open_model_or_demo
    from edgeslm.targets import load_target
    from edgeslm.verify import VerifyOptions
    from edgeslm.verify.report import render_failures, render_summary

    progress = _progress(time.perf_counter())
    target = load_target(target_name)
    text = text_or_split(data, "test")
    opts = VerifyOptions(ctx=ctx_len, max_tokens=max_tokens, runs=runs, timeout_s=timeout)
    check_report_path(json_out)
    ckpt = open_model_or_demo(model)
    if output == DEFAULT_BUILD_DIR:
        output.parent.mkdir(parents=True, exist_ok=True)  # an explicit -o must already have its parent
    result = do_build(ckpt, target, output, text, options=opts, overwrite=overwrite, progress=progress)
    click.echo(f"\n{ckpt.name} on {target.name} ({target.threads} threads), eval tokens from {text.source}\n")
    click.echo(render_summary(list(result.reports)))
    if failures := render_failures(list(result.reports)):
        click.echo(f"\nfailed:\n{failures}")
    click.echo(f"\nreports: {output / 'report.md'}, {output / 'report.json'}, {output / 'manifest.json'}")
    _emit_json(result.to_dict(), json_out)
    if not result.passed:
        failed = [f"{r.format}:{r.quant}" for r in result.reports if r.blocks_release]
        raise GateFailure(f"{', '.join(failed)} did not verify on target {target.name}.")


# --- prune -----------------------------------------------------------------


@main.command("prune")
@click.argument("model", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), help="New checkpoint directory (not needed with --plan).")
@click.option("--drop-layers", type=int, help="Drop the N least important decoder layers.")
@click.option("--layers", "layers_", help="Keep exactly these layers, e.g. 0,1,2,5.")
@click.option("--layer-metric", type=click.Choice(["block-influence", "perplexity"]), default="block-influence", show_default=True,
              help="Layer importance: 1 - cos(in, out) of each block, or the loss increase when it is skipped.")
@click.option("--ffn-dim", type=int, help="New MLP width (channels ranked by activation magnitude).")
@click.option("--num-heads", type=int, help="New query-head count (heads ranked by output norm).")
@click.option("--num-kv-heads", type=int, help="New KV-head count; each KV group goes with its query heads.")
@click.option("--hidden-size", type=int, help="New residual width (channels ranked by norm-layer outputs).")
@click.option("--target-params", help="A budget: fraction of the model (0.5) or a count (60e6, 60M). edgeslm cuts every "
              "mix of layers, hidden size, KV groups and MLP width that fits and keeps the one with the lowest measured KL.")
@click.option("--search-steps", default=0, show_default=True,
              help="With --target-params: distil the 3 best candidates this many steps each and re-rank them by KL "
              "(predicts the final order better than one-shot KL; 0: one-shot only).")
@click.option("--rounds", default=1, show_default=True,
              help="With --target-params: reach the budget in this many cuts, each removing the same share of what is "
              "left, with --round-steps distillation steps from the source between them. Each round is recorded.")
@click.option("--round-steps", default=50, show_default=True, help="Distillation steps between rounds, on the calibration text.")
@click.option("--round-to", type=int, default=256, show_default=True, help="Round new widths to this multiple (256: K-quants, 32: group-wise 4-bit, 1: off).")
@click.option("--plan", "plan_only_", is_flag=True, help="Print the plan (sizes, parameters per part, size per quant) and stop; "
              "with --target-params, the ranked candidates with their parameters and KL.")
@click.option("--data", type=click.Path(path_type=Path), help="Calibration text (file, folder, JSONL). Default: stdlib train split.")
@click.option("--eval-data", type=click.Path(path_type=Path), help="Evaluation text for the report. Default: stdlib test split.")
@click.option("--calib-samples", default=64, show_default=True, help="Calibration windows.")
@click.option("--seq-len", default=256, show_default=True, help="Tokens per calibration window.")
@click.option("--random-selection", "random_seed", type=int, help="Rank structures randomly with this seed (a baseline, not for use).")
@_overwrite
def prune_cmd(model, output, drop_layers, layers_, layer_metric, ffn_dim, num_heads, num_kv_heads, hidden_size,
              target_params, search_steps, rounds, round_steps, round_to, plan_only_, data, eval_data, calib_samples, seq_len, random_seed,
              overwrite):
    """Remove whole layers, heads/KV groups, MLP and hidden channels so tensors really shrink.

    \b
    Importance is measured on calibration data, as in Minitron:
      MLP channels   mean |act(gate) * up| at the input of down_proj
      heads          mean L2 norm of each head's output (KV groups: sum of their heads)
      hidden         mean |x| of every RMSNorm output
      layers         block influence or perplexity (--layer-metric)
    Writes a Hugging Face checkpoint plus prune_record.json (scores, kept
    indices, calibration hash, source hash, before/after report), and prints
    perplexity and KL against the source, per part pruned and all together.
    """
    from edgeslm.data import text_or_split
    from edgeslm.errors import UsageError
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune import PruneRequest, resolve
    from edgeslm.prune.plan import parse_budget, parse_layers
    from edgeslm.prune.stage import prune_checkpoint, search_checkpoint
    from edgeslm.render import plan_search, prune_plan, prune_result

    progress = _progress(time.perf_counter())
    ckpt = open_checkpoint(model)
    req = PruneRequest(drop_layers=drop_layers, layers=parse_layers(layers_), ffn_dim=ffn_dim, num_heads=num_heads,
                       num_kv_heads=num_kv_heads, hidden_size=hidden_size, target_params=parse_budget(target_params),
                       round_to=round_to)
    plan = resolve(req, ckpt.spec)
    if plan_only_ and req.target_params is not None:
        found = search_checkpoint(ckpt, req, text_or_split(data, "train"), calib_samples=calib_samples, seq_len=seq_len,
                                  layer_metric=layer_metric, search_steps=search_steps, progress=progress)
        click.echo(plan_search(found.to_dict()))
        return
    if req.target_params is None or plan_only_:
        click.echo(prune_plan(ckpt.spec, plan))
    if plan_only_:
        return
    if output is None:
        raise UsageError("give -o OUT for the pruned checkpoint, or --plan to only print the plan.")
    if plan.is_identity(ckpt.spec):
        click.echo("note: the plan prunes nothing; the output equals the source")
    pruned = prune_checkpoint(ckpt, output, req, text_or_split(data, "train"), text_or_split(eval_data, "test"),
                              calib_samples=calib_samples, seq_len=seq_len, layer_metric=layer_metric,
                              random_seed=random_seed, search_steps=search_steps, rounds=rounds, round_steps=round_steps,
                              overwrite=overwrite, progress=progress)
    if pruned.record.search:
        click.echo(plan_search(pruned.record.search) + "\n")
        click.echo(prune_plan(ckpt.spec, pruned.record.prune_plan))
    click.echo("\n" + prune_result(pruned))


def _training_opts(max_steps: int, lr: float, bf16: bool):
    """The loop's flags, shared by `train` and `distill`; each command keeps its own defaults."""
    return [
        click.option("--max-steps", default=max_steps, show_default=True, help="Optimizer steps."),
        click.option("--batch-size", default=16, show_default=True,
                     help="Sequences per optimizer step, in total over --grad-accum and torchrun processes."),
        click.option("--grad-accum", default=1, show_default=True,
                     help="Split each step into this many micro-batches: less memory, same result."),
        click.option("--eval-every", default=100, show_default=True, help="Steps between held-out evaluations."),
        click.option("--ckpt-every", default=100, show_default=True, help="Steps between checkpoints (OUTPUT/run/last)."),
        click.option("--seq-len", default=256, show_default=True, help="Tokens per sequence."),
        click.option("--lr", default=lr, show_default=True, help="Peak learning rate (warm-up, then cosine decay)."),
        click.option("--seed", default=0, show_default=True),
        click.option("--bf16/--no-bf16", default=bf16, show_default=True, help="bf16 autocast (fp32 master weights)."),
        click.option("--resume", is_flag=True, help="Continue OUTPUT/run/last exactly (same batches, same loss curve)."),
    ]


# --- data ------------------------------------------------------------------


@main.group()
def data() -> None:
    """Calibration and evaluation sets (see calibration/README.md)."""


@data.command("show")
@click.argument("name")
@click.option("--model", type=click.Path(path_type=Path), help="Count tokens with this checkpoint's tokenizer (default: the demo teacher's).")
def data_show(name: str, model: Path | None) -> None:
    """Token count and split sizes of a set: "stdlib", "stress", or a path (file, folder, JSONL)."""
    from tokenizers import Tokenizer

    from edgeslm.corpus import SPLITS, stdlib_corpus
    from edgeslm.data import load_text, stress_text
    from edgeslm.models.loader import open_model_or_demo

    ckpt = open_model_or_demo(model)
    tok = Tokenizer.from_file(str(ckpt.tokenizer_file))
    if name == "stdlib":
        c = stdlib_corpus()
        click.echo(f"stdlib: Python {c.python_version} standard library at {c.root}\n  sha256 {c.sha256}")
        parts = {s: (c.splits[s], len(c.files[s])) for s in SPLITS}
    else:
        ts = stress_text() if name == "stress" else load_text(name)
        click.echo(f"{name}: {ts.source}\n  sha256 {ts.sha256}")
        parts = {"all": (ts, 1)}
    click.echo(f"  tokens counted with {ckpt.name}'s tokenizer\n")
    click.echo(f"  {'split':<11}{'files':>7}{'MiB':>9}{'tokens':>12}")
    for s, (ts, n) in parts.items():
        click.echo(f"  {s:<11}{n:>7}{len(ts.text.encode()) / (1 << 20):>9.2f}{len(tok.encode(ts.text).ids):>12,}")


# --- train ------------------------------------------------------------------


@main.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Checkpoint directory to write.")
@click.option("--hidden-size", default=512, show_default=True, help="A multiple of 256, so K-quants fit every row.")
@click.option("--layers", default=4, show_default=True)
@click.option("--heads", default=8, show_default=True)
@click.option("--kv-heads", default=2, show_default=True)
@click.option("--ffn", default=1536, show_default=True, help="MLP intermediate size.")
@click.option("--vocab", default=8192, show_default=True, help="BPE vocabulary trained on the train split.")
@_with(_training_opts(max_steps=1200, lr=3e-3, bf16=True))
@_overwrite
def train(output, hidden_size, layers, heads, kv_heads, ffn, vocab, max_steps, batch_size, grad_accum, eval_every, ckpt_every,
          seq_len, lr, seed, bf16, resume, overwrite):
    """Train a small Llama from scratch on the stdlib corpus: the demo-teacher recipe.

    Reports tokens/s and ETA as it goes, checkpoints every 100 steps to
    OUTPUT/run/last, and writes a Hugging Face checkpoint (fp16 safetensors),
    training.json and loss.png at the end.
    """
    from edgeslm.train.loop import TrainConfig
    from edgeslm.train.teacher import TeacherConfig, train_teacher

    mc = TeacherConfig(hidden_size=hidden_size, intermediate_size=ffn, num_layers=layers, num_heads=heads,
                       num_kv_heads=kv_heads, vocab_size=vocab)
    tc = TrainConfig(max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum, eval_every=eval_every,
                     ckpt_every=ckpt_every, seq_len=seq_len, lr=lr, seed=seed, bf16=bf16)
    start = time.perf_counter()
    rec = train_teacher(output, mc, tc, resume=resume, overwrite=overwrite, progress=_progress(start),
                        on_step=_step_bar(start)).record
    click.echo(f"held-out test perplexity {rec['test_ppl']:.2f} (unigram baseline {rec['unigram_test_ppl']:.1f}); wrote {output}")


# --- distill ----------------------------------------------------------------


@main.command()
@click.option("--teacher", type=click.Path(path_type=Path), required=True, help="Teacher checkpoint.")
@click.option("--student", type=click.Path(path_type=Path), required=True, help="Student checkpoint (e.g. from edgeslm prune); same tokenizer.")
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Where the final student goes; run checkpoints in OUTPUT/run.")
@click.option("--data", type=click.Path(path_type=Path), help="Training text (file, folder, JSONL). Default: stdlib train split.")
@click.option("--eval-data", type=click.Path(path_type=Path),
              help="Held-out text. Default: the stdlib validation split, or the last 5% of --data.")
@click.option("--kd-weight", default=1.0, show_default=True, help="loss = W*KD + (1-W)*CE; 1 is pure distillation, 0 plain training.")
@click.option("--loss", "kind", type=click.Choice(["forward", "reverse", "jsd"]), default="forward", show_default=True,
              help="forward KL(teacher||student), reverse KL, or generalised JSD (TRL's GKD).")
@click.option("--beta", default=0.5, show_default=True, help="JSD interpolation: 0 = forward KL, 1 = reverse KL.")
@click.option("--temperature", default=1.0, show_default=True, help="Softens both distributions; the loss is scaled by T^2.")
@click.option("--hidden-weight", default=0.0, show_default=True,
              help="Add this weight x hidden-state matching (pruned students: layers and channels from prune_record.json).")
@click.option("--hidden-loss", type=click.Choice(["cosine", "mse"]), default="cosine", show_default=True)
@click.option("--layer-map", help="STUDENT:TEACHER block pairs to match, e.g. 0:0,1:2 (default: from prune_record.json).")
@click.option("--cache-teacher", type=click.Path(path_type=Path),
              help="Teacher top-k cache folder: filled on first use, then training runs with no teacher in memory.")
@click.option("--top-k", default=64, show_default=True, help="Teacher tokens kept per position in --cache-teacher.")
@click.option("--online-teacher", is_flag=True,
              help="Keep a large teacher (50M+ parameters) in memory instead of the automatic top-k cache in ~/.cache/edgeslm.")
@click.option("--generate", is_flag=True, help="Sequence-level KD: the teacher writes continuations of prompts from --data "
              "(JSONL \"prompt\" fields, or text prefixes); the student trains on them.")
@click.option("--num-prompts", default=256, show_default=True, help="--generate: prompts to continue.")
@click.option("--prompt-tokens", default=32, show_default=True, help="--generate: prefix length taken from plain text.")
@click.option("--max-new-tokens", default=128, show_default=True, help="--generate: continuation length.")
@click.option("--gen-temperature", default=0.8, show_default=True, help="--generate: sampling temperature (0: greedy).")
@click.option("--fsdp", is_flag=True, help="Under torchrun: shard parameters, gradients and optimizer state (FSDP2) instead of DDP.")
@click.option("--json", "json_out", metavar="PATH", help="Also write the result as JSON ('-' for stdout).")
@_with(_training_opts(max_steps=200, lr=1e-3, bf16=False))
@_overwrite
def distill(teacher, student, output, data, eval_data, kd_weight, kind, beta, temperature, hidden_weight, hidden_loss, layer_map,
            cache_teacher, top_k, online_teacher, generate, num_prompts, prompt_tokens, max_new_tokens, gen_temperature, fsdp, json_out,
            max_steps, batch_size, grad_accum, eval_every, ckpt_every, seq_len, lr, seed, bf16, resume, overwrite):
    """Distill a student from the teacher's logits on your data (or the stdlib corpus).

    \b
      edgeslm distill --teacher T --student S -o OUT --max-steps 400
      edgeslm distill ... --cache-teacher cache/   # teacher paid once, then off-line
      torchrun --nproc-per-node 2 -m edgeslm distill ...   # data-parallel

    Uses edgeslm's training loop: AdamW, warm-up + cosine decay, gradient
    accumulation, clipping, checkpoints and exact --resume. Every
    --eval-every steps it measures, on held-out text, KL to the teacher,
    student perplexity, top-1 agreement with the teacher and next-token
    accuracy. Writes the final student as a Hugging Face checkpoint with
    distill.json (hashes, recipe, curves) and loss.png.
    """
    from edgeslm.data import text_or_split
    from edgeslm.distill import DistillConfig, distill_checkpoints
    from edgeslm.distill.generate import GenerateConfig, jsonl_prompts
    from edgeslm.distill.hidden import plan_hidden_match
    from edgeslm.distill.losses import KDConfig
    from edgeslm.models.loader import open_checkpoint
    from edgeslm.prune.record import open_student
    from edgeslm.render import distill_table
    from edgeslm.train.dist import from_env
    from edgeslm.train.loop import TrainConfig

    tcfg = TrainConfig(max_steps=max_steps, batch_size=batch_size, grad_accum=grad_accum, seq_len=seq_len, lr=lr, seed=seed,
                       bf16=bf16, eval_every=eval_every, ckpt_every=ckpt_every, warmup_steps=min(50, max(1, max_steps // 10)))
    t, s = open_checkpoint(teacher), open_student(student)
    hidden = plan_hidden_match(s, t.spec, hidden_weight, hidden_loss, layer_map) if hidden_weight > 0 else None
    cfg = DistillConfig(KDConfig(kind, temperature, beta), kd_weight, hidden, top_k)
    check_report_path(json_out)
    gen = GenerateConfig(num_prompts, prompt_tokens, max_new_tokens, gen_temperature, seed) if generate else None
    train_text = text_or_split(data, "train")
    # held out: --eval-data, else the stdlib validation split, else (with --data) the end of --data
    val_text = text_or_split(eval_data, "validation") if eval_data is not None or data is None else None
    prompts = jsonl_prompts(data) if generate and data is not None else None
    dist = from_env(fsdp)
    start = time.perf_counter()
    res = distill_checkpoints(t, s, output, train_text, val_text, cfg, tcfg, cache_dir=cache_teacher,
                              auto_cache=not online_teacher, generate=gen,
                              prompts=prompts, resume=resume, overwrite=overwrite, progress=_progress(start),
                              on_step=_step_bar(start), dist=dist)
    if not dist.is_main:
        return
    click.echo("\n" + distill_table(res))
    curves = res.curves
    _emit_json({"output": str(output), "final": curves.evals[-1], "evals": curves.evals,
                "tokens_per_s": curves.tokens_per_s}, json_out)


# --- make-tiny -----------------------------------------------------------------


@main.command("make-tiny")
@click.argument("output", type=click.Path(path_type=Path))
@click.option("--family", type=click.Choice(["llama", "qwen2"]), default="llama", show_default=True)
@click.option("--tokenizer", type=click.Choice(["gpt2", "qwen2", "smollm", "spm"]), default="gpt2", show_default=True, help="Tokenizer layout to train.")
@click.option("--hidden-size", default=256, show_default=True)
@click.option("--layers", default=4, show_default=True)
@click.option("--heads", default=4, show_default=True)
@click.option("--kv-heads", default=2, show_default=True)
@click.option("--ffn", default=768, show_default=True, help="MLP intermediate size.")
@click.option("--vocab", default=2048, show_default=True, help="Tokenizer vocabulary to train.")
@click.option("--tie/--no-tie", default=False, show_default=True, help="Tie the output head to the embeddings.")
@click.option("--seed", default=0, show_default=True)
def make_tiny(output, family, tokenizer, hidden_size, layers, heads, kv_heads, ffn, vocab, tie, seed) -> None:
    """Write a small seeded random checkpoint with a locally trained tokenizer.

    For trying the pipeline without downloading anything. Its weights are
    random: it proves that artifacts load and match, not that they are good.
    """
    from edgeslm.models.tiny import TinyConfig, build_tiny_model
    from edgeslm.outputs import check_output

    check_output(output, folder=True)
    cfg = TinyConfig(family=family, hidden_size=hidden_size, intermediate_size=ffn, num_layers=layers, num_heads=heads,
                     num_kv_heads=kv_heads, tie_word_embeddings=tie, tokenizer=tokenizer, vocab_size=vocab, seed=seed)
    click.echo(f"wrote {build_tiny_model(cfg, output)}")


# --- run ------------------------------------------------------------------------


@main.command("run")
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--force", metavar="STAGE", help="Redo this stage (prune, distill, build or build:TARGET) and every stage after it.")
@click.option("--dry-run", is_flag=True, help="Print which stages would run, resume or be reused, and do no work.")
@click.option("--baseline", type=click.Path(path_type=Path), metavar="OLD_MANIFEST",
              help="An earlier run's manifest.json (or folder): write CHANGELOG.md with every stage's and artifact's deltas.")
def run_cmd(recipe: Path, force: str | None, dry_run: bool, baseline: Path | None) -> None:
    """Run a recipe: teacher -> pruned and distilled student -> verified artifacts for every target.

    \b
      edgeslm run examples/recipes/quickstart.toml
      edgeslm run my-release.toml --dry-run
      edgeslm run my-release.toml --force distill

    The recipe (TOML or YAML; see examples/recipes/) names the teacher, the
    data, an optional [prune] and [distill] step with the options of those
    commands, the [[targets]] with gate overrides, and the output folder. It
    is validated before any work. Each stage's folder is addressed by a hash
    of its configuration and inputs, so running again redoes only what
    changed; an interrupted distill resumes from its last checkpoint. The
    output holds manifest.json (every stage and artifact by sha256, with its
    verification) and report.md; `edgeslm lineage ARTIFACT` checks an
    artifact against it.

    Exits 1 when any artifact fails a gate or its runtime fails, 2 on a bad recipe.
    """
    from edgeslm.recipe import load_recipe
    from edgeslm.render import run_plan, run_result
    from edgeslm.run import RunResult, run_recipe

    start = time.perf_counter()
    r = load_recipe(recipe)
    res = run_recipe(r, force=force, dry_run=dry_run, baseline=baseline, progress=_progress(start),
                     on_step=_step_bar(start))
    if not isinstance(res, RunResult):
        return click.echo(run_plan(res))
    click.echo("\n" + run_result(res, changelog=baseline is not None))
    if not res.passed:
        failed = [f"{a['target']}/{a['format']}:{a['quant']}" for a in res.artifacts if a["required"] and not a["passed"]]
        raise GateFailure(f"{', '.join(failed)} did not verify.")


@main.command()
@click.argument("artifact", type=click.Path(path_type=Path))
def lineage(artifact: Path) -> None:
    """Print an artifact's chain back to the teacher and check its files against the run's manifest.

    The chain: teacher sha256 -> pruned student -> distilled student -> recipe
    sha256 -> artifact sha256, from the manifest.json of the `edgeslm run`
    folder that holds ARTIFACT. Every file is hashed again.

    Exits 1 naming each file that differs from the record (a one-byte change
    is enough), 2 when ARTIFACT is not from a run.
    """
    from edgeslm.errors import LineageMismatch
    from edgeslm.lineage import check_lineage

    chk = check_lineage(artifact)
    for what, ident in chk.chain:
        click.echo(f"{what:<40} {ident}")
    click.echo(f"\nrecorded in {chk.manifest}")
    if not chk.ok:
        raise LineageMismatch(f"{artifact} does not match its run's record:\n  " + "\n  ".join(chk.mismatches),
                              hint="the file changed after it was verified; run the recipe again to rebuild it")
    click.echo("every file matches the record")


# --- package -------------------------------------------------------------------


@main.command("package")
@click.argument("source", type=click.Path(path_type=Path), required=False)
@click.option("--app", "app", metavar="APP", help="android-executorch, ios-executorch, android-llamacpp, onnxruntime-genai "
              "or linux-llamacpp.")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="The bundle to write, e.g. bundle.zip.")
@click.option("--quant", help="Which artifact, when SOURCE holds several of the app's format.")
@click.option("--target", "target_name", help="Which target's artifact (in a run of several), and whose storage and RAM "
              "budgets to check. Default: the target it was verified for.")
@click.option("--check", "check", type=click.Path(path_type=Path), metavar="BUNDLE",
              help="Check a bundle instead: every checksum, then load it from its layout and compare greedy tokens.")
@click.option("--threads", default=2, show_default=True, help="Runtime threads for the greedy generation.")
@_overwrite
def package_cmd(source, app, output, quant, target_name, check, threads, overwrite) -> None:
    """Package a verified artifact for the app that will load it, or --check a bundle.

    \b
      edgeslm package build/quickstart --app android-executorch --quant 8da4w -o bundle.zip
      edgeslm package build/edgeslm/demo-teacher-Q4_K_M.gguf --app linux-llamacpp -o pi.zip
      edgeslm package --check bundle.zip

    SOURCE is an `edgeslm run` folder, an `edgeslm build` folder, or an artifact
    inside one: only what verified there is packaged. The zip follows the
    app's own demo-app layout and holds edgeslm-package.json (format, quant,
    sha256 of every file, BOS/EOS, chat template, context length, the
    verification record and where it was measured, the minimum runtime
    version, the lineage, and greedy tokens generated at packaging) and a
    README.md with the loading code. The same inputs give a byte-identical zip.
    A bundle over the target's storage budget is refused.

    --check refuses archives with absolute, '..' or symlink members before
    extracting anything, verifies every checksum (naming a file that differs
    or is missing), loads the model from the unpacked layout in its runtime and
    compares its greedy tokens with the recorded ones. Exits 1 when they differ.
    """
    from edgeslm.errors import UsageError
    from edgeslm.package import check_package, package

    if check is not None:
        if source or app or output:
            raise UsageError("--check takes only the bundle: edgeslm package --check BUNDLE.zip")
        res = check_package(check, threads=threads)
        click.echo(f"{check}: {res.files} files match their sha256")
        if not res.ok:
            raise GateFailure(f"{check}: greedy tokens from the unpacked model {res.generated} differ from those recorded "
                              f"at packaging {res.recorded}.")
        click.echo(f"the model loads from the bundle's layout and generates the {len(res.recorded)} recorded greedy tokens")
        return
    if source is None or app is None or output is None:
        raise UsageError("give SOURCE, --app and -o: edgeslm package SOURCE --app APP -o BUNDLE.zip "
                         "(or --check BUNDLE.zip)")
    bundle = package(source, app, output, quant=quant, target=target_name, overwrite=overwrite, threads=threads)
    for w in bundle.warnings:
        click.echo(f"note: {w}")
    v = bundle.manifest["verification"]
    click.echo(f"wrote {bundle.path} for {bundle.app}: {bundle.manifest['name']} ({bundle.artifact.format}:"
               f"{bundle.artifact.quant}, {bundle.manifest['size_mib']:.1f} MiB, {len(bundle.manifest['files'])} model files); "
               f"verified on {v['target']}: mean KL {v['mean_kl']:.3g}, top-1 {v['top1_agreement']:.1%}, "
               f"decode {v['decode_tps']:.0f} tokens/s")


# --- doctor --------------------------------------------------------------------


@main.command()
@click.option("--json", "json_out", metavar="PATH", help="Also write the report as JSON ('-' for stdout only).")
def doctor(json_out: str | None) -> None:
    """What a bug report needs, and set-ups known to be unsafe.

    \b
    Prints the versions of edgeslm and every runtime (torch, transformers,
    executorch, torchao, onnxruntime, onnxruntime-genai, llama-cpp-python),
    llama.cpp's system info and the CPU flags it was built with, and this
    machine's CPU model, ISA flags and usable cores. Warns about set-ups known
    to break, such as a llama.cpp built with AMX_INT8 = 1 (it crashed on Q8_0)
    or one built for another CPU.

    Exits 0, also when it warns: it reports, it does not gate.
    """
    from edgeslm.doctor import diagnose, render

    check_report_path(json_out)
    d = diagnose()
    if json_out == "-":
        return _emit_json(d.to_dict(), "-")
    click.echo(render(d))
    _emit_json(d.to_dict(), json_out)


if __name__ == "__main__":
    sys.exit(main())
