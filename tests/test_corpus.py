"""The default corpus: deterministic, disjoint splits; user data validation."""

import json

import pytest

from edgeslm.corpus import SPLITS, split_of, stdlib_corpus
from edgeslm.data import load_text, stress_text
from edgeslm.errors import DataError


def test_splits_are_disjoint_and_cover_every_file():
    c = stdlib_corpus()
    sets = [set(c.files[s]) for s in SPLITS]
    assert all(sets), "every split has files"
    assert not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])
    for s in SPLITS:
        assert all(split_of(f) == s for f in c.files[s])
        assert list(c.files[s]) == sorted(c.files[s])  # fixed order


def test_extraction_is_deterministic_and_location_independent(tmp_path):
    """A copy of the stdlib at another path gives the same splits and hashes."""
    import shutil

    c = stdlib_corpus()
    copy = tmp_path / "lib" / "python3"
    for rel in c.files["test"] + c.files["validation"] + c.files["train"][:40]:
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f"{c.root}/{rel}", copy / rel)
    again = stdlib_corpus(str(copy))
    assert again.files["test"] == c.files["test"] and again.splits["test"].sha256 == c.splits["test"].sha256
    assert again.files["validation"] == c.files["validation"]
    assert stdlib_corpus(str(copy)).sha256 == again.sha256


def test_split_sizes_are_sensible():
    c = stdlib_corpus()
    n = {s: len(c.splits[s].text) for s in SPLITS}
    assert n["train"] > 5 * (n["validation"] + n["test"]) and n["test"] > 50_000
    assert c.python_version.count(".") == 2 and len(c.sha256) == 64


def test_jsonl_text_and_prompt_response(tmp_path):
    f = tmp_path / "d.jsonl"
    f.write_text(json.dumps({"text": "a = 1"}) + "\n\n" + json.dumps({"prompt": "def f():", "response": " pass"}) + "\n")
    assert load_text(f).text == "a = 1\ndef f(): pass"


def test_folder_of_files_in_sorted_order(tmp_path):
    (tmp_path / "b.py").write_text("b = 2\n")
    (tmp_path / "a.txt").write_text("a = 1\n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\x00")
    assert load_text(tmp_path).text == "a = 1\n\nb = 2\n"


@pytest.mark.parametrize(
    "name, content, match",
    [("e.txt", b"", "empty"), ("b.bin.txt", b"\x00\x01\x02", "binary"), ("l.txt", "\u00e9t\u00e9".encode("cp1252"), "UTF-8"),
     ("j.jsonl", b'{"body": "x"}\n', '"text" field'), ("k.jsonl", b"{not json\n", "not valid JSON")],
)
def test_corrupt_user_data_is_refused(tmp_path, name, content, match):
    f = tmp_path / name
    f.write_bytes(content)
    with pytest.raises(DataError, match=match):
        load_text(f)


def test_stress_set_has_what_breaks_tokenizers():
    t = stress_text().text
    for feature in ("\r\n", "\t", "🚀", "\u200d", "变量", "    " * 8):
        assert feature in t
    assert max(len(line) for line in t.splitlines()) > 100


@pytest.mark.parametrize("name", ["llama", "qwen2", "llama-spm", "smollm"])
def test_stress_set_round_trips_through_each_tokenizer_path(name, loaded, gguf_file):
    """HF tokenizer and llama.cpp's tokenizer both decode their own ids back to the exact text."""
    from edgeslm.runners.base import RunnerOptions, load_runner

    text = stress_text().text
    tok = loaded(name).tokenizer
    ids = tok.encode(text, add_special_tokens=False)
    decoded = tok.decode(ids)
    # SentencePiece-style decoders strip the leading space they prepend; nothing else may change
    assert decoded == text
    r = load_runner(gguf_file(name, "F32"), RunnerOptions(threads=1))  # in this process: the test reads llama.cpp's own detokenizer
    try:
        llm = r._llm(False)
        back = llm.detokenize(r.tokenize(text)).decode("utf-8")
        assert back.lstrip(" ") == text if name == "llama-spm" else back == text
    finally:
        r.close()
