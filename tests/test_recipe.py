"""`edgeslm run RECIPE`: the whole chain on a tiny teacher, its stage cache, resume, and lineage."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgeslm.errors import RecipeError
from edgeslm.recipe import load_recipe

ROOT = Path(__file__).resolve().parent.parent
LOOSE = ROOT / "tests" / "data" / "loose-target.toml"
TEXT = "\n".join(f"def f{i}(x, y):\n    return x * {i % 7} + y  # {i}\n" for i in range(300))


def _recipe(folder: Path, teacher: Path, *, steps: int = 6, extra: str = "", out: str = "run") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "data.txt").write_text(TEXT)
    text = f'''
name = "tiny"
teacher = "{teacher}"
output = "{folder / out}"

[data]
calibration = "data.txt"
train = "data.txt"
eval = "data.txt"

[prune]
ffn_dim = 64
round_to = 16
calib_samples = 4
seq_len = 32

[distill]
max_steps = {steps}
batch_size = 4
seq_len = 32
eval_every = 3
ckpt_every = 2
lr = 5e-3

[[targets]]
target = "{LOOSE}"
{extra}'''
    p = folder / "recipe.toml"
    p.write_text(text)
    return p


@pytest.mark.parametrize("path", sorted((ROOT / "examples" / "recipes").glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_recipe_validates(path):
    r = load_recipe(path)
    assert r.targets and all(t.target.artifacts for t in r.targets)
    assert r.prune is not None and r.distill is not None and len(r.sha256) == 64


def _bad(tmp_path, tiny, edit) -> str:
    p = _recipe(tmp_path / "bad", tiny("llama"))
    p.write_text(edit(p.read_text()))
    with pytest.raises(RecipeError) as e:
        load_recipe(p)
    assert str(p) in e.value.message  # every error names the file
    assert not (tmp_path / "bad" / "run").exists()  # refused before any work
    return e.value.message + (e.value.hint or "")


@pytest.mark.parametrize(("edit", "says"), [
    (lambda t: t.replace("[distill]", "[distil]"), "unknown key 'distil' (did you mean 'distill'?)"),
    (lambda t: t.replace("max_steps", "max_step"), "unknown key 'max_step' (did you mean 'max_steps'?)"),
    (lambda t: t.replace(f'target = "{LOOSE}"', 'target = "pixel9000"'), "unknown target 'pixel9000'"),
    (lambda t: t.replace('teacher = "', 'teacher = "/nowhere'), "is not a checkpoint folder"),
    (lambda t: t + '\nartifacts = [{ format = "gguf", quant = "Q3_XXL" }]\n', "unknown gguf quant 'Q3_XXL'"),
    (lambda t: t + '\nartifacts = [{ format = "onnx", quant = "Q4_K_M" }]\n', "unknown onnx quant 'Q4_K_M'"),
    (lambda t: t + "\ngates = { max_mean_kls = 0.1 }\n", "unknown key 'max_mean_kls' (did you mean 'max_mean_kl'?)"),
    (lambda t: t.replace('train = "data.txt"', 'train = "nope.txt"'), "data.train: data path 'nope.txt' does not exist"),
    (lambda t: t.replace("max_steps = 6", "max_steps = -6"), "distill.max_steps: must be at least 1, not -6"),
    (lambda t: t.replace("max_steps = 6", "max_steps = 6.5"), "distill.max_steps: expected a whole number, not 6.5"),
    (lambda t: t.replace("[[targets]]", "[[targetz]]"), "unknown key 'targetz'"),
    (lambda t: t.replace("ffn_dim = 64", 'target_params = "1.5"'), "prune.target_params: '1.5': a fraction must be at most 1"),
    (lambda t: t.replace("ffn_dim = 64", 'target_params = "60Q"'), "prune.target_params: '60Q': give a fraction"),
    (lambda t: t.replace("ffn_dim = 64", 'layers = "0,a"'), "prune.layers: '0,a': give comma-separated layer numbers"),
    (lambda t: t.replace("ffn_dim = 64", "layers = [0, -1]"), "prune.layers: [0, -1]: give the layer numbers to keep"),
    (lambda t: t.replace("ffn_dim = 64", "random_seed = 1"), "prune: say what to prune"),
    (lambda t: t.replace("ffn_dim = 64", "layers = [0, 5]"), "prune.layers: [5]: the model has layers 0..1"),
    (lambda t: t.replace("ffn_dim = 64", "ffn_dim = 100000"), "prune.ffn_dim: 100000 is larger than the model's"),
    (lambda t: t.replace("ffn_dim = 64", 'ffn_dim = 64\nlayer_metric = "ppl"'), "prune.layer_metric: 'ppl' is not one of block"),
    (lambda t: t.replace("lr = 5e-3", 'lr = 5e-3\nhidden_loss = "l1"'), "distill.hidden_loss: 'l1' is not a hidden-state loss"),
    (lambda t: t.replace("lr = 5e-3", 'lr = 5e-3\nhidden_weight = 0.5\nlayer_map = "0-0"'),
     "distill.layer_map: '0-0' is not a list of STUDENT:TEACHER layer pairs"),
    (lambda t: t.replace("lr = 5e-3", "lr = 5e-3\nhidden_weight = 0.5\ncache_teacher = true"),
     "distill.cache_teacher: cannot go with hidden_weight"),
    (lambda t: t.replace("lr = 5e-3", "lr = 0"), "distill.lr: must be above 0"),
    (lambda t: t.replace("lr = 5e-3", 'lr = 5e-3\nloss = "kl"'), "distill.loss: 'kl' is not a loss"),
    (lambda t: t.replace("ffn_dim = 64", "ffn_dim = 64\nrounds = 2"), "prune.rounds: 2 rounds need a budget"),
    (lambda t: t.replace("ffn_dim = 64", "target_params = 0.5\nsearch_steps = -1"), "prune.search_steps: must be at least 0"),
], ids=["stage", "key", "target", "teacher", "quant", "format-quant", "gate-metric", "data-path", "negative", "fraction",
        "no-targets", "budget", "budget-unit", "layers", "layers-list", "nothing-to-prune", "no-such-layer", "wider", "layer-metric", "hidden-loss",
        "layer-map", "cache-and-hidden", "lr", "loss", "rounds-without-budget", "search-steps"])
def test_bad_recipes_are_refused_before_any_work(tmp_path, tiny, edit, says):
    assert says in _bad(tmp_path, tiny, edit)


def test_recipe_options_take_the_cli_forms_and_normalise(tmp_path, tiny):
    """The recipe takes `edgeslm prune`'s forms (a budget with a unit, layers as "0,1,3" or a list) and keeps the
    number or tuple the CLI would make, so two spellings of one plan give one stage key."""
    from edgeslm.run import plan_stages, _texts
    from edgeslm.models.loader import open_checkpoint

    def load(prune: str):
        p = _recipe(tmp_path / "ok", tiny("llama4"))
        p.write_text(p.read_text().replace("ffn_dim = 64", prune).replace("lr = 5e-3", "lr = 5e-3\nseed = 0"))
        return load_recipe(p)

    assert load('target_params = "60K"').prune.target_params == 60e3
    assert load("target_params = 60e3").prune.target_params == 60e3
    assert load("target_params = 0.5").prune.target_params == 0.5
    a, b = load('layers = "0,1,3"'), load("layers = [0, 1, 3]")
    assert a.prune.layers == b.prune.layers == (0, 1, 3)
    teacher = open_checkpoint(a.teacher)
    assert plan_stages(a, teacher, _texts(a))[0].key == plan_stages(b, teacher, _texts(b))[0].key
    assert a.distill.seed == 0  # 0 is a seed, not a missing count


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny):
    """A whole run: prune, distill, build for the loose target (two GGUFs)."""
    from edgeslm.run import run_recipe

    folder = tmp_path_factory.mktemp("recipe")
    r = load_recipe(_recipe(folder, tiny("llama")))
    t0 = time.perf_counter()
    res = run_recipe(r)
    return folder, r, res, time.perf_counter() - t0


def test_a_run_goes_from_teacher_to_verified_artifacts(first_run):
    folder, r, res, _ = first_run
    assert [s.stage for s in res.stages] == ["prune", "distill", "build:loose"]
    assert not any(s.reused for s in res.stages)
    assert [(a["format"], a["quant"]) for a in res.artifacts] == [("gguf", "Q8_0"), ("gguf", "Q4_K_M")]
    man = json.loads((r.output / "manifest.json").read_text())
    assert man["recipe"]["sha256"] == r.sha256
    assert man["lineage"]["distill"]["sha256"] == man["stages"][1]["checkpoint_sha256"]
    # the artifacts were verified against the distilled student, not the teacher
    assert all(a["reference_sha256"] == man["lineage"]["distill"]["sha256"] for a in man["artifacts"])
    for s in man["stages"]:  # each stage's own record, written by the stage-folder writer
        stage = json.loads((Path(s["folder"]) / "stage.json").read_text())
        assert stage["stage"] == s["stage"] and stage["versions"]["llama-cpp-python"]
        assert stage["outputs"] == s["outputs"] and stage["inputs"] == s["inputs"]
    # every artifact carries the chain inside: teacher -> student -> recipe
    from edgeslm.export import open_artifact

    for a in man["artifacts"]:
        lin = open_artifact(r.output / a["file"]).lineage
        assert lin["recipe_sha256"] == r.sha256 and lin["teacher_sha256"] == man["lineage"]["teacher"]["sha256"]
        assert lin["source_sha256"] == man["lineage"]["distill"]["sha256"]


def test_the_run_report_matches_a_separate_verify(first_run, cli):
    folder, r, res, _ = first_run
    a = res.artifacts[0]
    student = next(s.folder for s in res.stages if s.stage == "distill")
    out = folder / "verify.json"
    v = cli("verify", r.output / a["file"], "--reference", student, "--target", LOOSE, "--data", folder / "data.txt",
            "--json", out)
    assert v.exit_code == 0, v.output
    mine = json.loads(out.read_text())["accuracy"]
    assert f"{mine['mean_kl']:.3g}" == f"{a['accuracy']['mean_kl']:.3g}"
    assert f"{mine['top1_agreement']:.1%}" == f"{a['accuracy']['top1_agreement']:.1%}"


def test_a_second_run_reuses_every_stage_and_a_change_redoes_only_what_follows(first_run, tiny):
    from edgeslm.run import run_recipe

    folder, r, res, first_s = first_run
    t0 = time.perf_counter()
    again = run_recipe(r)
    assert all(s.reused for s in again.stages)
    assert time.perf_counter() - t0 < max(10.0, first_s / 3)  # seconds, not a rebuild
    changed = load_recipe(_recipe(folder, tiny("llama"), steps=8))
    dry = run_recipe(changed, dry_run=True)
    assert [p.action for p in dry] == ["reuse", "run", "run"]
    third = run_recipe(changed)
    assert [s.reused for s in third.stages] == [True, False, False]
    forced = run_recipe(changed, dry_run=True, force="build")
    assert [p.action for p in forced] == ["reuse", "reuse", "run"]


def test_lineage_checks_every_byte(first_run, cli, tmp_path):
    folder, r, res, _ = first_run
    copy = tmp_path / "run"
    shutil.copytree(r.output, copy)  # a private copy to damage
    rel = json.loads((copy / "manifest.json").read_text())["artifacts"][1]["file"]  # the latest run's, whatever ran before
    art = copy / rel
    ok = cli("lineage", art)
    assert ok.exit_code == 0, ok.output
    assert "teacher" in ok.stdout and "distill student" in ok.stdout and "every file matches" in ok.stdout
    raw = bytearray(art.read_bytes())
    raw[len(raw) // 2] ^= 1
    art.write_bytes(bytes(raw))
    bad = cli("lineage", art)
    assert bad.exit_code == 1
    assert f"{rel}: sha256" in bad.stderr and "differs from the run's" in bad.stderr


def test_a_run_killed_during_distill_resumes_and_ends_equal(tmp_path, tiny):
    from safetensors.torch import load_file

    whole = _recipe(tmp_path / "whole", tiny("llama"), steps=24)
    killed = _recipe(tmp_path / "killed", tiny("llama"), steps=24)
    subprocess.run([sys.executable, "-m", "edgeslm", "run", str(whole)], check=True, capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "edgeslm", "run", str(killed)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        states = list((tmp_path / "killed" / "run" / "stages").glob("distill-*/run/last/state.json"))
        if states and json.loads(states[0].read_text())["step"] >= 4:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed mid-distill"
    res = subprocess.run([sys.executable, "-m", "edgeslm", "run", str(killed), "--dry-run"], capture_output=True, text=True)
    assert "resume" in res.stdout
    subprocess.run([sys.executable, "-m", "edgeslm", "run", str(killed)], check=True, capture_output=True)
    a = load_file(next((tmp_path / "whole" / "run" / "stages").glob("distill-*")) / "model.safetensors")
    b = load_file(next((tmp_path / "killed" / "run" / "stages").glob("distill-*")) / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:  # the resumed run retraced the same batches: the same student
        assert (a[k] - b[k]).abs().max() <= 1e-6, k


def _only_q8(folder: Path, teacher: Path, prune: str, distill: str, steps: int = 4) -> Path:
    """A recipe building one GGUF, with the given [prune] selection and extra [distill] settings."""
    p = _recipe(folder, teacher, steps=steps, extra='artifacts = [{ format = "gguf", quant = "Q8_0" }]')
    p.write_text(p.read_text().replace("ffn_dim = 64", prune).replace("lr = 5e-3", "lr = 5e-3\n" + distill))
    return p


def test_recipe_prune_and_distill_options_reach_their_stages(tmp_path, tiny):
    """Every `edgeslm prune`/`distill` option a recipe may set arrives at its stage: kept layers and the random
    baseline's seed in prune_record.json, the teacher cache (built once, reused by a changed distill), sequence-level
    KD, and hidden-state matching planned from the prune step's record."""
    from edgeslm.run import run_recipe

    p = _only_q8(tmp_path / "a", tiny("llama4"), 'layers = "0,2,3"\nrandom_seed = 3',
                 "cache_teacher = true\ntop_k = 8\ngenerate = true\nnum_prompts = 4\nmax_new_tokens = 24")
    res = run_recipe(load_recipe(p))
    prune_dir, distill_dir = res.stages[0].folder, res.stages[1].folder
    record = json.loads((prune_dir / "prune_record.json").read_text())
    assert record["kept"]["layers"] == [0, 2, 3] and record["request"]["layers"] == [0, 2, 3]
    assert record["selection"] == "random (seed 3)"
    recipe = json.loads((distill_dir / "distill.json").read_text())["recipe"]
    assert recipe["teacher"] == "cache top-8" and recipe["generate"]["num_prompts"] == 4
    caches = list(prune_dir.parent.glob("teacher-cache-*"))
    assert len(caches) == 1 and (caches[0] / "cache.json").is_file()
    made = (caches[0] / "cache.json").stat().st_mtime_ns

    p2 = _only_q8(tmp_path / "a", tiny("llama4"), 'layers = "0,2,3"\nrandom_seed = 3',
                  "cache_teacher = true\ntop_k = 8\ngenerate = true\nnum_prompts = 4\nmax_new_tokens = 24", steps=6)
    again = run_recipe(load_recipe(p2))
    assert [s.reused for s in again.stages] == [True, False, False]
    assert list(prune_dir.parent.glob("teacher-cache-*")) == caches  # the changed distill read the same cache
    assert (caches[0] / "cache.json").stat().st_mtime_ns == made

    h = _only_q8(tmp_path / "b", tiny("llama4"), "drop_layers = 1", 'hidden_weight = 0.5\nhidden_loss = "mse"')
    hid = run_recipe(load_recipe(h))
    hidden = json.loads((hid.stages[1].folder / "distill.json").read_text())["recipe"]["hidden"]
    kept = json.loads((hid.stages[0].folder / "prune_record.json").read_text())["kept"]["layers"]
    assert hidden["weight"] == 0.5 and hidden["loss"] == "mse"
    assert [list(x) for x in hidden["layer_map"]] == [[i, t] for i, t in enumerate(kept[:2])]  # from the record


def test_a_baseline_gives_a_changelog_of_every_stage_and_artifact(first_run, tmp_path):
    import copy

    from edgeslm.changelog import changelog, read_run_manifest

    folder, r, res, _ = first_run
    new = read_run_manifest(r.output)
    old = copy.deepcopy(new)
    old["stages"][1]["key"] = "0" * 12  # an earlier release whose distill differed
    old["recipe"]["distill"]["max_steps"] = 3
    old["artifacts"][0]["accuracy"]["mean_kl"] = new["artifacts"][0]["accuracy"]["mean_kl"] * 2
    old["artifacts"][0]["passed"] = False
    text = changelog(old, new)
    assert "**prune**: unchanged" in text
    assert "**distill**: key 000000000000 -> " in text and "`distill.max_steps` 3 -> " in text
    row = next(line for line in text.splitlines() if f"| {new['artifacts'][0]['format']}:{new['artifacts'][0]['quant']} |" in line)
    assert "(better)" in row and "(was FAIL)" in row
    with pytest.raises(Exception, match="not an `edgeslm run` manifest"):
        bad = tmp_path / "m.json"
        bad.write_text("{}")
        read_run_manifest(bad)


def test_a_detected_target_keys_its_build_the_same_every_time():
    """host measures its memory bandwidth at every load; the stage key must not follow that noise."""
    from edgeslm.run import _target_identity
    from edgeslm.targets import load_target

    assert _target_identity(load_target("host")) == _target_identity(load_target("host"))


def test_a_target_listed_twice_is_refused(tmp_path, tiny):
    said = _bad(tmp_path, tiny, lambda t: t + f'\n[[targets]]\ntarget = "{LOOSE}"\n')
    assert "is listed twice" in said


def test_a_run_never_takes_over_a_folder_it_did_not_make(tmp_path, tiny):
    from edgeslm.errors import OutputPathError
    from edgeslm.run import run_recipe

    p = _recipe(tmp_path / "r", tiny("llama"), out="photos")
    (tmp_path / "r" / "photos").mkdir()
    (tmp_path / "r" / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(OutputPathError, match="edgeslm did not make it"):
        run_recipe(load_recipe(p))
    assert [f.name for f in (tmp_path / "r" / "photos").iterdir()] == ["cat.jpg"]


@pytest.mark.parametrize("required", [True, False])
def test_gates_decide_the_release_and_an_optional_artifact_does_not(tmp_path, tiny, cli, required):
    """A recipe with only a target: Q4_0 is held to an impossible speed gate; only a required one fails the run."""
    folder = tmp_path / "rel"
    folder.mkdir()
    (folder / "data.txt").write_text(TEXT)
    (folder / "r.toml").write_text(f'''
teacher = "{tiny("llama")}"
output = "{folder / "run"}"
[data]
calibration = "data.txt"
train = "data.txt"
eval = "data.txt"
[[targets]]
target = "{LOOSE}"
artifacts = [{{ format = "gguf", quant = "Q8_0" }},
             {{ format = "gguf", quant = "Q4_0", required = {str(required).lower()}, gates = {{ min_decode_tps = 1e12 }} }}]
''')
    res = cli("run", folder / "r.toml")
    assert res.exit_code == (1 if required else 0), res.output
    row = next(line for line in res.stdout.splitlines() if "gguf:Q4_0" in line)
    assert ("FAIL" in row) and (("optional" in row) != required)
    man = json.loads((folder / "run" / "manifest.json").read_text())
    assert man["passed"] is (not required)
    if required:
        assert "gguf:Q4_0 did not verify" in res.stderr


def test_the_run_report_renders_every_chart_in_a_browser(first_run):
    """report.html of a whole run: the Pareto chart, the distillation curves and the pruning importance, drawn."""
    from browser import SCREENSHOTS, not_blank, render

    folder, r, res, _ = first_run
    shot = SCREENSHOTS / "run-report.png"
    charts = render(r.output / "report.html", shot)
    assert set(charts) == {"pareto-loose", "distill", "prune"}
    for name, (w, h, elements) in charts.items():
        assert w > 300 and h > 100 and elements > 20, (name, charts[name])
    assert not_blank(shot) > 0.02
    page = (r.output / "report.html").read_text()
    latest = json.loads((r.output / "manifest.json").read_text())  # other tests may have run a changed recipe since
    assert latest["recipe"]["sha256"] in page and "this host" in page  # the lineage and where it was measured
