"""report.html in a real browser, and app-ready packages: layouts, determinism, --check, unsafe archives."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from browser import SCREENSHOTS, not_blank, render
from edgeslm.errors import ArtifactError

ROOT = Path(__file__).resolve().parent.parent

# the app -> (artifact quant in the shared build, the members its bundle must hold)
LAYOUTS = {
    "android-executorch": ("8da8w", {"llama-executorch-8da8w.pte", "tokenizer.json", "push.sh"}),
    "ios-executorch": ("8da8w", {"llama-executorch-8da8w.pte", "tokenizer.json"}),
    "android-llamacpp": ("Q8_0", {"llama-Q8_0.gguf"}),
    "linux-llamacpp": ("Q8_0", {"llama-Q8_0.gguf"}),
    "onnxruntime-genai": ("int8", {"llama-onnx-int8/genai_config.json", "llama-onnx-int8/model.onnx",
                                   "llama-onnx-int8/model.onnx.data", "llama-onnx-int8/tokenizer.json"}),
}


def test_the_build_report_renders_in_a_browser(all_formats_build):
    out, res = all_formats_build
    assert res.exit_code == 0, res.output
    shot = SCREENSHOTS / "build-report.png"
    charts = render(out / "report.html", shot)
    assert set(charts) == {"pareto-all-formats"}
    w, h, elements = charts["pareto-all-formats"]
    assert w > 300 and h > 150 and elements > 20  # drawn, not an empty box
    assert not_blank(shot) > 0.02
    page = (out / "report.html").read_text()
    for fetch in ('src="http', "src='http", 'href="http', "url(http", "@import", "<link"):  # nothing is fetched
        assert fetch not in page
    for badge in ("max_mean_kl pass", "min_top1 pass", "ships"):
        assert badge in page


@pytest.mark.parametrize("app", list(LAYOUTS))
def test_each_app_bundle_unzips_to_its_layout_and_generates_the_recorded_tokens(all_formats_build, app, tmp_path):
    from edgeslm.package import PACKAGE_FILE, README, check_package, package

    out, _ = all_formats_build
    quant, expected = LAYOUTS[app]
    bundle = package(out, app, tmp_path / "b.zip", quant=quant)
    names = set(zipfile.ZipFile(bundle.path).namelist())
    meta = json.loads(zipfile.ZipFile(bundle.path).read(PACKAGE_FILE))
    if app == "onnxruntime-genai":  # the whole model folder: its tokenizer files too
        assert expected <= names and all(n.startswith("llama-onnx-int8/") for n in names - {PACKAGE_FILE, README})
    else:
        assert names == expected | {PACKAGE_FILE, README}
    assert set(meta["files"]) == names - {PACKAGE_FILE, README, "push.sh"}
    assert meta["verification"]["mean_kl"] >= 0 and meta["verification"]["measured_on"] == "this host"
    assert meta["min_runtime"]["version"].startswith(">=") and meta["lineage"]["source_sha256"]
    assert meta["context_length"] and meta["eos_token_ids"] is not None and len(meta["greedy"]["tokens"]) == 16
    readme = zipfile.ZipFile(bundle.path).read(README).decode()
    assert meta["name"] in readme and "```" in readme
    chk = check_package(bundle.path)
    assert chk.ok and chk.generated == meta["greedy"]["tokens"] and chk.files == len(meta["files"])


def test_the_same_inputs_give_a_byte_identical_bundle(all_formats_build, tmp_path, cli):
    out, _ = all_formats_build
    a = cli("package", out, "--app", "linux-llamacpp", "-o", tmp_path / "a.zip")
    b = cli("package", out, "--app", "linux-llamacpp", "-o", tmp_path / "b.zip")
    assert a.exit_code == 0 and b.exit_code == 0, a.output + b.output
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    again = cli("package", out, "--app", "linux-llamacpp", "-o", tmp_path / "a.zip")
    assert again.exit_code == 2 and "--overwrite" in again.stderr


def _rezip(src: Path, dst: Path, change) -> None:
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as w:
        for info in z.infolist():
            data = change(info.filename, z.read(info.filename))
            if data is not None:
                w.writestr(info, data)


def test_check_names_a_changed_or_missing_file(all_formats_build, tmp_path, cli):
    out, _ = all_formats_build
    good = tmp_path / "good.zip"
    assert cli("package", out, "--app", "onnxruntime-genai", "-o", good).exit_code == 0
    assert cli("package", "--check", good).exit_code == 0

    def flip(name, data):
        if name.endswith("model.onnx.data"):
            data = bytearray(data)
            data[len(data) // 2] ^= 1
        return bytes(data)

    _rezip(good, tmp_path / "flipped.zip", flip)
    res = cli("package", "--check", tmp_path / "flipped.zip")
    assert res.exit_code == 2 and "llama-onnx-int8/model.onnx.data differs from the package's record" in res.stderr
    _rezip(good, tmp_path / "missing.zip", lambda name, data: None if name.endswith("tokenizer.json") else data)
    res = cli("package", "--check", tmp_path / "missing.zip")
    assert res.exit_code == 2 and "llama-onnx-int8/tokenizer.json is missing" in res.stderr


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/edgeslm-evil.txt", "a/../../evil.txt"])
def test_an_archive_escaping_its_folder_is_refused_and_never_extracted(tmp_path, member):
    from edgeslm.package import check_package

    bad = tmp_path / "inner" / "bad.zip"
    bad.parent.mkdir()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("edgeslm-package.json", "{}")
        z.writestr(member, "gotcha")
    with pytest.raises(ArtifactError, match="nothing was extracted"):
        check_package(bad)
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/edgeslm-evil.txt").exists()


def test_a_symlink_member_is_refused(tmp_path):
    import stat

    from edgeslm.package import check_package

    bad = tmp_path / "link.zip"
    with zipfile.ZipFile(bad, "w") as z:
        info = zipfile.ZipInfo("model.gguf")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(ArtifactError, match="a symlink"):
        check_package(bad)


def test_a_bundle_over_the_storage_budget_is_refused(all_formats_build, tmp_path):
    from edgeslm.errors import TargetError
    from edgeslm.package import package

    out, _ = all_formats_build
    small = tmp_path / "small.toml"
    small.write_text((ROOT / "tests" / "data" / "all-formats-target.toml").read_text()
                     .replace("storage_budget_mib = 4096", "storage_budget_mib = 0.01"))
    with pytest.raises(TargetError, match="over all-formats's storage budget"):
        package(out, "linux-llamacpp", tmp_path / "x.zip", target=str(small))
    assert not (tmp_path / "x.zip").exists()


def test_only_verified_artifacts_are_packaged(gguf_file, tmp_path, cli):
    res = cli("package", gguf_file("llama", "Q8_0"), "--app", "linux-llamacpp", "-o", tmp_path / "x.zip")
    assert res.exit_code == 2 and "has no verification record" in res.stderr
    res = cli("package", tmp_path, "--app", "tflite-app", "-o", tmp_path / "x.zip")
    assert res.exit_code == 2 and "unknown app 'tflite-app'" in res.stderr
