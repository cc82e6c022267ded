"""`edgeslm package`: the verified artifact, laid out the way its app loads it, in a deterministic zip.

    bundle = package(Path("build/quickstart"), "android-executorch", Path("bundle.zip"))
    check = check_package(Path("bundle.zip"))     # checksums, then the model loads and generates

Each app's layout follows its runtime's own demo app (APPS, one record per
app). Every bundle holds edgeslm-package.json (format, quant, sha256 of every
file, BOS/EOS, chat template, context length, the verification record and
where it was measured, the minimum runtime version, the lineage, and greedy
tokens generated at packaging) and a README.md with the loading code. Members
are sorted, dated 1980-01-01 and stored with fixed modes, so the same inputs
give a byte-identical zip. ``check_package`` refuses absolute, ``..``,
backslash and symlink members before it extracts anything.
"""

from __future__ import annotations

import json
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Callable

from edgeslm.errors import ArtifactError, EdgeSLMError, UsageError
from edgeslm.export.base import Artifact, open_artifact
from edgeslm.formats import format_named
from edgeslm.manifest import file_sha256

PACKAGE_FILE = "edgeslm-package.json"
README = "README.md"
SCHEMA = "edgeslm.package/1"
GREEDY_PROMPT = "def fibonacci(n):\n"  # generated from at packaging and again by --check
GREEDY_TOKENS = 16
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: no build time leaks into the bytes


@dataclass(frozen=True)
class AppLayout:
    """Where one app expects the model: the files and names its runtime's demo app reads."""

    name: str  # --app
    format: str  # the artifact format the app runs
    runtime: str  # the Python distribution of that runtime: its version is the minimum the bundle needs
    about: str
    files: Callable[[Artifact, str], dict[str, Path]]  # (artifact, bundle name) -> member name -> file
    model: Callable[[Path, str], Path]  # (unpacked root, bundle name) -> what the runtime loads
    readme: str  # the loading code; {name} is the bundle name
    extra: Callable[[str], dict[str, str]] = lambda name: {}  # generated text members (push scripts)


def _pte_files(art: Artifact, name: str) -> dict[str, Path]:
    from edgeslm.export.executorch import PTE_FILE

    return {f"{name}.pte": art.path / PTE_FILE, "tokenizer.json": art.path / "tokenizer.json"}


def _gguf_files(art: Artifact, name: str) -> dict[str, Path]:
    return {f"{name}.gguf": art.path}


def _folder_files(art: Artifact, name: str) -> dict[str, Path]:
    from edgeslm.formats import LINEAGE_FILE

    return {f"{name}/{f.relative_to(art.path).as_posix()}": f for f in sorted(art.path.rglob("*"))
            if f.is_file() and f.name != LINEAGE_FILE}


ANDROID_DIR = "/data/local/tmp/llama"  # where ExecuTorch's Android LlamaDemo looks for .pte and tokenizer files

APPS: dict[str, AppLayout] = {a.name: a for a in (
    AppLayout(
        "android-executorch", "executorch", "executorch",
        "ExecuTorch's Android LlamaDemo: a .pte and tokenizer.json pushed to " + ANDROID_DIR,
        _pte_files, lambda root, name: root / f"{name}.pte",
        f"""Push the model where the ExecuTorch Android LlamaDemo app looks (`sh push.sh`, or by hand):

```sh
adb shell mkdir -p {ANDROID_DIR}
adb push {{name}}.pte {ANDROID_DIR}/
adb push tokenizer.json {ANDROID_DIR}/
```

In the app's settings pick `{{name}}.pte` as the model and `tokenizer.json` as the tokenizer, and the
model type in `edgeslm-package.json` (`app_model_type`). From your own app (Kotlin, ExecuTorch's
`org.pytorch.executorch.extension.llm.LlmModule`):

```kotlin
val module = LlmModule("{ANDROID_DIR}/{{name}}.pte", "{ANDROID_DIR}/tokenizer.json", 0.0f)
module.load()
module.generate(prompt, 128, callback)
```
""",
        lambda name: {"push.sh": f"#!/bin/sh\nset -e\nadb shell mkdir -p {ANDROID_DIR}\n"
                                 f"adb push {name}.pte {ANDROID_DIR}/\nadb push tokenizer.json {ANDROID_DIR}/\n"}),
    AppLayout(
        "ios-executorch", "executorch", "executorch",
        "ExecuTorch's iOS LLaMA demo app: a .pte and tokenizer.json added to the app's documents",
        _pte_files, lambda root, name: root / f"{name}.pte",
        """Copy `{name}.pte` and `tokenizer.json` into the app's Documents folder (Finder's file sharing,
or the Files app); the ExecuTorch iOS LLaMA demo lists them there. From your own app (Swift,
ExecuTorch's `ExecuTorchLLM` framework):

```swift
let runner = TextRunner(modelPath: docs.appendingPathComponent("{name}.pte").path,
                        tokenizerPath: docs.appendingPathComponent("tokenizer.json").path)
try runner.load()
try runner.generate(prompt, Config { $0.sequenceLength = 128 }) { token in print(token, terminator: "") }
```
"""),
    AppLayout(
        "android-llamacpp", "gguf", "llama-cpp-python",
        "llama.cpp's Android example (llama.android): one .gguf with its tokenizer, special tokens and chat template inside",
        _gguf_files, lambda root, name: root / f"{name}.gguf",
        """Copy `{name}.gguf` to the device (`adb push {name}.gguf /data/local/tmp/`) or ship it in the
app's files, then load it with llama.cpp's Android example (`examples/llama.android`):

```kotlin
val llm = LLamaAndroid.instance()
llm.load("/data/local/tmp/{name}.gguf")
llm.send(prompt).collect { piece -> print(piece) }
```
"""),
    AppLayout(
        "linux-llamacpp", "gguf", "llama-cpp-python",
        "llama.cpp on a Linux board (Raspberry Pi 5, Jetson): one .gguf",
        _gguf_files, lambda root, name: root / f"{name}.gguf",
        """```sh
llama-cli -m {name}.gguf -p "def fibonacci(n):" -n 64 --temp 0
```

or from Python (`pip install llama-cpp-python`):

```python
from llama_cpp import Llama
llm = Llama(model_path="{name}.gguf", n_ctx=512)
print(llm("def fibonacci(n):", max_tokens=64, temperature=0)["choices"][0]["text"])
```
"""),
    AppLayout(
        "onnxruntime-genai", "onnx", "onnxruntime-genai",
        "onnxruntime-genai: the model folder (genai_config.json, model.onnx, model.onnx.data, tokenizer files)",
        _folder_files, lambda root, name: root / name,
        """```python
import onnxruntime_genai as og
model = og.Model("{name}")
tokenizer = og.Tokenizer(model)
params = og.GeneratorParams(model)
params.set_search_options(max_length=128, do_sample=False)
generator = og.Generator(model, params)
generator.append_tokens(tokenizer.encode("def fibonacci(n):"))
while not generator.is_done():
    generator.generate_next_token()
print(tokenizer.decode(generator.get_sequence(0)))
```

The same folder loads in the onnxruntime-genai mobile packages (`Model(path)` on Android and iOS).
"""),
)}


@dataclass(frozen=True)
class Bundle:
    path: Path  # the zip
    app: str
    artifact: Artifact
    manifest: dict  # edgeslm-package.json
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class PackageCheck:
    path: Path
    files: int  # checksums verified
    greedy_equal: bool
    recorded: list[int] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.greedy_equal


def app_named(name: str) -> AppLayout:
    if name not in APPS:
        raise UsageError(f"unknown app {name!r}.", hint=f"apps: {', '.join(APPS)}")
    return APPS[name]


# --- finding the artifact and its verification -------------------------------------------


def _verified(source: Path, app: AppLayout, quant: str | None, target: str | None) -> tuple[Path, dict, str]:
    """(artifact path, its VerifyReport dict, target name) from a run folder, a build folder or an artifact.

    Raises UsageError (nothing or several to choose from), ArtifactError (never verified, or failed)."""
    source = source.resolve()
    reports: list[tuple[Path, dict, str]] = []
    for report_file in _report_files(source):
        rep = json.loads(report_file.read_text())
        for r in rep.get("artifacts", []):
            path = report_file.parent / Path(r["artifact"]).name
            reports.append((path, r, rep.get("target", "")))
    if source.is_file() or any(source.joinpath(m).is_file() for m in _markers()):  # one artifact
        mine = [x for x in reports if x[0] == source]
        if not mine:
            raise ArtifactError(f"{source} has no verification record (no report.json of a build or run lists it).",
                                hint="package what `edgeslm build` or `edgeslm run` verified, from its output folder")
        candidates = mine
    else:
        candidates = [x for x in reports if x[1]["format"] == app.format]
    candidates = [x for x in candidates if (quant is None or x[1]["quant"].lower() == quant.lower())
                  and (target is None or x[2] == target)]
    if not candidates:
        raise UsageError(f"{source} holds no verified {app.format} artifact" + (f" of quant {quant}" if quant else "")
                         + (f" for target {target}" if target else "") + f" for --app {app.name}.",
                         hint="build one first (edgeslm build / edgeslm run), or pick another --app")
    if len(candidates) > 1:
        listed = ", ".join(f"{t}/{r['format']}:{r['quant']}" for _, r, t in candidates)
        raise UsageError(f"{source} holds several {app.format} artifacts: {listed}.", hint="pick one with --quant (and --target)")
    path, report, tgt = candidates[0]
    if report["format"] != app.format:
        raise UsageError(f"--app {app.name} runs {app.format} artifacts; {path.name} is {report['format']}.",
                         hint=f"apps for {report['format']}: {', '.join(a.name for a in APPS.values() if a.format == report['format'])}")
    if not report.get("passed"):
        raise ArtifactError(f"{path.name} did not verify on target {tgt}: "
                            + (report.get("failure") or ", ".join(g["name"] for g in report["gates"] if not g["passed"]))
                            + ".", hint="package only what passed its gates; see the build's report.md")
    return path, report, tgt


def _markers() -> list[str]:
    from edgeslm.formats import all_formats

    return [f.marker for f in all_formats().values() if f.marker]


def _report_files(source: Path) -> list[Path]:
    """report.json files that may list ``source``: the build stages of a run's latest manifest (the stage cache
    keeps older ones beside them), a build folder, or the folder above an artifact."""
    if source.is_dir() and (source / "manifest.json").is_file() and (source / "stages").is_dir():
        stages = json.loads((source / "manifest.json").read_text()).get("stages", [])
        return [Path(s["folder"]) / "report.json" for s in stages if str(s.get("stage", "")).startswith("build:")]
    folder = source if source.is_dir() and (source / "report.json").is_file() else source.parent
    return [folder / "report.json"] if (folder / "report.json").is_file() else []


# --- packaging ------------------------------------------------------------------


def package(source: Path, app_name: str, out: Path, *, quant: str | None = None, target: str | None = None,
            overwrite: bool = False, threads: int = 2) -> Bundle:
    """Lay out the verified artifact in ``source`` for ``app_name`` and write the zip ``out``.

    Raises UsageError, ArtifactError, OutputPathError, TargetError (over the target's storage budget).
    """
    from edgeslm.outputs import atomic_path, check_output

    app = app_named(app_name)
    check_output(out, folder=False, inputs=[source], overwrite=overwrite, suffix=".zip")
    profile = _profile(target)
    path, report, tgt = _verified(source, app, quant, profile.name if profile else target)
    art = open_artifact(path)
    name = path.stem if path.is_file() else path.name
    files = app.files(art, name)
    size_mib = sum(f.stat().st_size for f in files.values()) / (1 << 20)
    warnings = _check_budgets(profile or _profile(tgt, strict=False), tgt, size_mib, report)
    members = {arc: f.read_bytes() for arc, f in files.items()}
    with tempfile.TemporaryDirectory(prefix="edgeslm-package-") as tmp:  # the layout the app will load
        for arc, data in members.items():
            (Path(tmp) / arc).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / arc).write_bytes(data)
        greedy = _greedy(app.model(Path(tmp), name), threads)
    fmt = format_named(art.format)
    manifest = {
        "schema": SCHEMA, "app": app.name, "name": name, "format": art.format, "quant": art.quant,
        "files": {arc: file_sha256(f) for arc, f in sorted(files.items())},
        **(fmt.model_card(path) if fmt.model_card else {}),
        "app_model_type": _model_type(report),
        "verification": {
            "target": tgt, "mean_kl": report["accuracy"]["mean_kl"], "top1_agreement": report["accuracy"]["top1_agreement"],
            "ppl_ratio": report["accuracy"]["ppl_ratio"], "decode_tps": report["speed"]["decode_tps"],
            "prefill_tps": report["speed"]["prefill_tps"], "peak_rss_mib": report["speed"].get("peak_rss_mib"),
            "threads": report["speed"]["threads"], "measured_on": report.get("runtime", {}).get("measured_on", "this host"),
            "cpu": report.get("runtime", {}).get("cpu"), "runtime": report.get("runtime", {}).get("name"),
            "runtime_versions": report.get("runtime", {}).get("versions"), "data": report.get("data"),
            "gates": report.get("gates"),
        },
        "size_mib": round(size_mib, 3),
        "min_runtime": {"package": app.runtime, "version": _version(app.runtime)},
        "lineage": art.lineage,
        "greedy": greedy,
    }
    members[PACKAGE_FILE] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    members[README] = _readme(app, name, manifest).encode()
    members.update({k: v.encode() for k, v in app.extra(name).items()})
    with atomic_path(out) as tmp:
        _write_zip(tmp, members)
    return Bundle(out, app.name, art, manifest, tuple(warnings))


def _model_type(report: dict) -> str:
    """The model family as ExecuTorch's demo apps name it in their model-type setting (LLAMA_3 when unknown)."""
    try:
        config = json.loads((Path(report["reference"]["path"]) / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return "LLAMA_3"
    return "QWEN_3" if "qwen" in str(config.get("model_type", "")).lower() else "LLAMA_3"


def _version(dist: str) -> str:
    try:
        return f">={metadata.version(dist)}"
    except metadata.PackageNotFoundError:
        return "unknown"


def _profile(name: str | None, strict: bool = True):
    """The target profile ``name`` (a name or a file), or None. Raises TargetError when ``strict``."""
    from edgeslm.errors import TargetError
    from edgeslm.targets import load_target

    if not name:
        return None
    try:
        return load_target(name)
    except TargetError:
        if strict:
            raise
        return None


def _check_budgets(t, tgt: str, size_mib: float, report: dict) -> list[str]:
    """Refuse a bundle over the target's storage budget; say how peak memory compares with its RAM budget."""
    from edgeslm.errors import TargetError

    if t is None:
        return [f"target {tgt!r} is not a profile edgeslm can load here: its storage and RAM budgets were not checked "
                "(pass --target PROFILE)"]
    if size_mib > t.storage_budget_mib:
        raise TargetError(f"the bundle's model files are {size_mib:.1f} MiB, over {t.name}'s storage budget of "
                          f"{t.storage_budget_mib:g} MiB.", hint="package a smaller quant, or prune further")
    peak = (report.get("speed") or {}).get("peak_rss_mib") or 0.0
    notes = [f"peak memory {peak:.0f} MiB of {t.name}'s RAM budget {t.ram_budget_mib:.0f} MiB"]
    if peak > t.ram_budget_mib:
        notes.append(f"peak memory {peak:.0f} MiB is over {t.name}'s RAM budget of {t.ram_budget_mib:.0f} MiB")
    return notes


def _greedy(model: Path, threads: int) -> dict:
    """Greedy tokens from the packaging prompt, in the artifact's own runtime: what --check must reproduce."""
    from edgeslm.runners.base import open_runner

    with open_runner(model, threads=threads, n_ctx=64) as rt:
        ids = rt.tokenize(GREEDY_PROMPT)
        tokens = rt.generate(ids, GREEDY_TOKENS).tokens
    return {"prompt": GREEDY_PROMPT, "prompt_ids": ids, "tokens": list(tokens)}


def _readme(app: AppLayout, name: str, manifest: dict) -> str:
    v = manifest["verification"]
    layout = "\n".join(f"- `{arc}`" for arc in [*manifest["files"], PACKAGE_FILE, README, *app.extra(name)])
    return (f"# {name} for {app.name}\n\n{app.about}.\n\n## Files\n\n{layout}\n\n## Load it\n\n"
            + app.readme.replace("{name}", name)
            + f"\n## Verified\n\n{manifest['format']}:{manifest['quant']} on target `{v['target']}` "
              f"(measured on {v['measured_on']}, {v['threads']} threads): mean KL {v['mean_kl']:.3g}, top-1 "
              f"{v['top1_agreement']:.1%}, decode {v['decode_tps']:.0f} tokens/s, peak {v['peak_rss_mib'] or 0:.0f} MiB. "
              f"Needs {manifest['min_runtime']['package']} {manifest['min_runtime']['version']}. "
              f"Check the bundle with `edgeslm package --check BUNDLE.zip`.\n")


def _write_zip(path: Path, members: dict[str, bytes]) -> None:
    """Sorted members, a fixed date and mode, one compression level: the same members give the same bytes."""
    with zipfile.ZipFile(path, "w") as z:
        for arc in sorted(members):
            info = zipfile.ZipInfo(arc, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3  # unix, whatever the packing machine
            z.writestr(info, members[arc], compresslevel=6)


# --- checking -------------------------------------------------------------------


def safe_members(z: zipfile.ZipFile, where: Path) -> list[zipfile.ZipInfo]:
    """Every member, after refusing any that could land outside the folder it is extracted to:
    absolute names, drive letters, '..', backslashes, symlinks, duplicates. Raises ArtifactError."""
    seen: set[str] = set()
    for info in z.infolist():
        name = info.filename
        parts = PurePosixPath(name).parts
        mode = info.external_attr >> 16
        bad = ("an absolute path" if name.startswith("/") or (len(name) > 1 and name[1] == ":") else
               "a '..' component" if ".." in parts else
               "a backslash" if "\\" in name else
               "a symlink" if stat.S_ISLNK(mode) else
               "a duplicate" if name in seen else None)
        if bad:
            raise ArtifactError(f"{where}: member {name!r} has {bad}; the archive is refused and nothing was extracted.",
                                hint="package it again with edgeslm package")
        seen.add(name)
    return z.infolist()


def check_package(bundle: Path, *, threads: int = 2) -> PackageCheck:
    """Verify every checksum, then load the model from the unpacked layout in its runtime and compare
    greedy tokens with those recorded at packaging. Raises ArtifactError naming the file that differs."""
    from edgeslm.runners.base import open_runner

    if not bundle.is_file():
        raise ArtifactError(f"bundle {bundle} does not exist.")
    try:
        z = zipfile.ZipFile(bundle)
    except (zipfile.BadZipFile, OSError) as e:
        raise ArtifactError(f"{bundle} is not a readable zip: {e}", hint="package it again") from e
    with z, tempfile.TemporaryDirectory(prefix="edgeslm-check-") as tmp:
        members = safe_members(z, bundle)
        names = {m.filename for m in members if not m.is_dir()}
        if PACKAGE_FILE not in names:
            raise ArtifactError(f"{bundle} has no {PACKAGE_FILE}: not an edgeslm package.")
        try:
            manifest = json.loads(z.read(PACKAGE_FILE))
            app, files, greedy = app_named(manifest["app"]), manifest["files"], manifest["greedy"]
        except (ValueError, KeyError, TypeError, EdgeSLMError) as e:
            raise ArtifactError(f"{bundle}: {PACKAGE_FILE} is damaged ({e}).") from e
        missing = sorted(set(files) - names)
        if missing:
            raise ArtifactError(f"{bundle}: {missing[0]} is missing (the package records its sha256 "
                                f"{files[missing[0]][:16]}...).")
        extra = sorted(names - set(files) - {PACKAGE_FILE, README, *app.extra(manifest["name"])})
        if extra:
            raise ArtifactError(f"{bundle}: {extra[0]} is not in the package's record.")
        root = Path(tmp)
        z.extractall(root, members)
        for arc, sha in sorted(files.items()):
            if file_sha256(root / arc) != sha:
                raise ArtifactError(f"{bundle}: {arc} differs from the package's record (sha256 "
                                    f"{file_sha256(root / arc)[:16]}..., recorded {sha[:16]}...).",
                                    hint="the file changed after packaging; package the artifact again")
        with open_runner(app.model(root, manifest["name"]), threads=threads, n_ctx=64) as rt:
            ids = rt.tokenize(greedy["prompt"])
            tokens = rt.generate(ids, len(greedy["tokens"])).tokens if ids == greedy["prompt_ids"] else []
    return PackageCheck(bundle, len(files), list(tokens) == greedy["tokens"], greedy["tokens"], list(tokens))
