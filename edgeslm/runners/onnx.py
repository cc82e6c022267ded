"""ONNX artifacts: onnxruntime for logits and timing, onnxruntime-genai for its tokenizer and generation.

The folder follows onnxruntime-genai's layout (model.onnx, genai_config.json,
tokenizer files), with inputs input_ids, attention_mask and
past_key_values.N.key/value, and outputs logits and present.N.key/value.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from edgeslm.errors import ArtifactError
from edgeslm.export.onnx import GENAI_CONFIG, MODEL_FILE
from edgeslm.runners.base import Generation, RunnerOptions, register_runner
from edgeslm.util import captured_stderr


@register_runner("onnx")
class OnnxRunner:
    name = "onnxruntime"

    @staticmethod
    def probe(path: Path) -> None:
        """genai_config.json parses, and model.onnx is a readable protobuf (weights not loaded)."""
        import onnx

        path = Path(path)
        folder = path if path.is_dir() else path.parent
        model = folder / MODEL_FILE if path.is_dir() else path
        try:
            json.loads((folder / GENAI_CONFIG).read_text())["model"]["decoder"]
            onnx.load_model(str(model), load_external_data=False)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ArtifactError(f"{path} is not a readable ONNX model folder: {e}", hint="export it again") from e
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError
            raise ArtifactError(f"{model} is not a readable ONNX model: {e}", hint="export it again") from e

    def __init__(self, path: Path, options: RunnerOptions):  # kv_cache, n_ctx: the graph's own (fp32, dynamic)
        import onnxruntime as ort

        threads = options.threads
        self.path = Path(path)
        folder = self.path if self.path.is_dir() else self.path.parent
        model = self.path / MODEL_FILE if self.path.is_dir() else self.path
        cfg_file = folder / GENAI_CONFIG
        if not model.is_file() or not cfg_file.is_file():
            raise ArtifactError(f"{self.path} is not an ONNX model folder (model.onnx and genai_config.json).")
        self.folder, self.threads = folder, threads
        genai = json.loads(cfg_file.read_text())["model"]
        dec = genai["decoder"]
        self.vocab_size = int(genai.get("vocab_size") or 0)
        self.n_layers, self.kv_heads, self.head_size = dec["num_hidden_layers"], dec["num_key_value_heads"], dec["head_size"]
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ArtifactError(f"onnxruntime could not load {model}: {e}", hint="the model is corrupt or truncated; export it again") from e
        self.input_names = {i.name for i in self.session.get_inputs()}
        self._og_tok = None

    def describe(self) -> dict:
        return {"vocab_size": self.vocab_size} if self.vocab_size else {}

    def tokenize(self, text: str) -> list[int]:
        if self._og_tok is None:
            import onnxruntime_genai as og

            with captured_stderr():
                self._og_tok = og.Tokenizer(og.Model(str(self.folder)))
        return [int(t) for t in self._og_tok.encode(text)]

    def _empty_past(self) -> dict:
        z = np.zeros((1, self.kv_heads, 0, self.head_size), np.float32)
        return {f"past_key_values.{i}.{kv}": z for i in range(self.n_layers) for kv in ("key", "value")}

    def _run(self, ids: Sequence[int], past: dict, total: int):
        feeds = {"input_ids": np.asarray([list(ids)], dtype=np.int64),
                 "attention_mask": np.ones((1, total), dtype=np.int64), **past}
        if "position_ids" in self.input_names:
            feeds["position_ids"] = np.arange(total - len(ids), total, dtype=np.int64)[None]
        outs = self.session.run(None, feeds)
        names = [o.name for o in self.session.get_outputs()]
        res = dict(zip(names, outs))
        present = {k.replace("present.", "past_key_values."): v for k, v in res.items() if k.startswith("present.")}
        return res["logits"][0], present  # (T, V)

    def logits(self, ids: Sequence[int]) -> np.ndarray:
        return self._run(ids, self._empty_past(), len(ids))[0].astype(np.float32)

    def generate(self, prompt: Sequence[int], max_new_tokens: int) -> Generation:
        t0 = time.perf_counter()
        logits, past = self._run(prompt, self._empty_past(), len(prompt))
        prefill = time.perf_counter() - t0
        tok = int(np.argmax(logits[-1]))
        out, decode, total = [tok], 0.0, len(prompt)
        for _ in range(max_new_tokens - 1):
            total += 1
            t0 = time.perf_counter()
            logits, past = self._run([tok], past, total)
            decode += time.perf_counter() - t0
            tok = int(np.argmax(logits[-1]))
            out.append(tok)
        return Generation(out, prefill, decode, len(prompt))

    def close(self) -> None:
        self.session = None


def genai_generate(folder: Path, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
    """Greedy tokens from onnxruntime-genai itself: the runtime apps embed."""
    import onnxruntime_genai as og

    with captured_stderr():
        model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt_ids) + max_new_tokens, do_sample=False)
    gen = og.Generator(model, params)
    gen.append_tokens(np.asarray([list(prompt_ids)], dtype=np.int32))
    out = []
    while not gen.is_done() and len(out) < max_new_tokens:
        gen.generate_next_token()
        out.append(int(gen.get_next_tokens()[0]))
    return out
