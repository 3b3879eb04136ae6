"""The JavaScript side of an exported folder: `hf_bilstm.js` (the classifier in transformers.js, beside `onnx/`),
`onnx_eval.js` (the ONNX graph evaluated in plain JavaScript) and, with `hf-bilstm export --demo`, `demo/` (a static
page that classifies as you type, with the int8 model).

    FOLDER/hf_bilstm.js            pipeline(transformers, FOLDER or Hub id, {quantized}) → classify(texts)
    FOLDER/onnx_eval.js            InferenceSession.create(ONNX bytes).run(feeds): the graph without ONNX Runtime
    FOLDER/demo/index.html, app.js, model_info.json   (served with `python -m http.server` in FOLDER: /demo/)
    FOLDER/demo/vendor/            ONNX Runtime Web and transformers.js's tokenizer (@huggingface/tokenizers), copied
                                   from node_modules when given (--demo_vendor), so that the page needs no network;
                                   else they come from a CDN
"""

from __future__ import annotations

import html
import json
import os

from ..errors import UsageError
from ..folder import write_atomically

# x86-64 CPU flags with which MLAS (ONNX Runtime's CPU kernels) sums int8 products exactly (VNNI, AMX); without them an
# x86-64 CPU runs its AVX2 / AVX-512BW kernels, which add pairs of products in int16 with saturation first.
EXACT_INT8_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "amx_int8"})


def onnxruntime_int8_products(cpuinfo: str = "/proc/cpuinfo") -> str:
    """How this machine's ONNX Runtime sums int8 weight products: 'saturating' on an x86-64 CPU without VNNI or AMX,
    'exact' elsewhere (what `onnx_eval.js` takes as HF_BILSTM_INT8_PRODUCTS, to give ONNX Runtime's answers here)."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return "exact"
    try:
        with open(cpuinfo, encoding="utf-8") as handle:
            flags = next((line.split(":", 1)[1].split() for line in handle if line.startswith("flags")), [])
    except OSError:
        return "saturating"
    return "exact" if EXACT_INT8_FLAGS & set(flags) else "saturating"


HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "js")
JS_MODULE = "hf_bilstm.js"
EVAL_MODULE = "onnx_eval.js"  # imported by the demo page (and usable alone): no dependencies
JS_MODULES = (JS_MODULE, EVAL_MODULE)
DEMO_DIR = "demo"
DEMO_FILES = ("index.html", "app.js")
# The transformers.js release whose node_modules --demo_vendor reads, and the releases of the two packages it runs on
# that the page loads (from a CDN when demo/vendor/ is absent): the ones it was tested with (js/package-lock.json).
TRANSFORMERS_JS_VERSION = "4.3.2"
ONNXRUNTIME_WEB_VERSION = "1.31.0-dev.20260914-8d85527a0"
TOKENIZERS_VERSION = "0.2.0"
# What the page loads from vendor/: the tokenizer (37 KB) and, only for a graph with an operator onnx_eval.js lacks,
# ONNX Runtime Web's plain CPU build (14 MB of WebAssembly; the WebGPU build transformers.js would pick is 27 MB).
VENDOR_FILES = {
    "tokenizers.min.mjs": "@huggingface/tokenizers/dist/tokenizers.min.mjs",
    "ort.wasm.min.mjs": "onnxruntime-web/dist/ort.wasm.min.mjs",
    "ort-wasm-simd-threaded.mjs": "onnxruntime-web/dist/ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm": "onnxruntime-web/dist/ort-wasm-simd-threaded.wasm",
}


def _install(source: str, target: str) -> bool:
    """Copies `source` to `target` (atomically) unless it already holds the same bytes; True if written."""
    with open(source, "rb") as handle:
        data = handle.read()
    if os.path.isfile(target):
        with open(target, "rb") as handle:
            if handle.read() == data:
                return False
    write_atomically(target, data)
    return True


def write_js_module(folder: str) -> list[str]:
    """Writes `FOLDER/hf_bilstm.js` and `FOLDER/onnx_eval.js`; returns those that were absent or different."""
    return [name for name in JS_MODULES if _install(os.path.join(HERE, name), os.path.join(folder, name))]


def _results(folder: str):
    for name in ("all_results.json", "onnx/export_report.json"):
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            continue
        try:
            with open(path, encoding="utf-8") as handle:
                yield name, json.load(handle)
        except ValueError:
            continue


def model_info(folder: str) -> dict:
    """The page's title and the model card's numbers (test accuracy of the model and of its int8 file)."""
    results = dict(_results(folder))
    trained = results.get("all_results.json", {})
    int8 = (results.get("onnx/export_report.json") or {}).get("int8") or {}
    name = os.path.basename(os.path.abspath(folder))
    facts = []
    if isinstance(trained.get("test_accuracy"), (int, float)):
        facts.append(f"test accuracy {trained['test_accuracy']:.2%}")
    if isinstance(int8.get("test_accuracy"), (int, float)):
        facts.append(
            f"int8 model (the one running here): test accuracy {int8['test_accuracy']:.2%} on "
            f"{int8.get('test_samples', 0):,} reviews, {int8.get('bytes', 0) / 1e6:.1f} MB"
        )
    card = "; ".join(facts) or "no measured results in this folder"
    return {
        "title": f"{name}: hf_bilstm text classifier",
        "card_html": f"Model card: {html.escape(card)}. See README.md for how it was trained.",
        "onnxruntime_web_version": ONNXRUNTIME_WEB_VERSION,
        "tokenizers_version": TOKENIZERS_VERSION,
    }


def vendor_sources(vendor_from: str) -> dict[str, str]:
    """{name in demo/vendor/: its file in the node_modules folder `vendor_from`}; a UsageError if one is missing."""
    sources = {}
    for name, relative in VENDOR_FILES.items():
        path = os.path.join(os.path.expanduser(vendor_from), relative)
        if not os.path.isfile(path):
            raise UsageError(
                f"--demo_vendor {vendor_from!r} has no {relative}; give the node_modules folder of "
                f"`npm install @huggingface/transformers@{TRANSFORMERS_JS_VERSION}`."
            )
        sources[name] = path
    return sources


def write_demo(folder: str, vendor_from: str | None = None) -> list[str]:
    """Writes `FOLDER/demo/` (and the JavaScript modules beside `onnx/`); `vendor_from` is a node_modules folder
    holding @huggingface/transformers and onnxruntime-web, copied into demo/vendor/. Returns the files written."""
    if not os.path.isfile(os.path.join(folder, "onnx", "model_quantized.onnx")):
        raise UsageError(
            f"the demo runs the int8 model, and {folder!r} has no onnx/model_quantized.onnx; export with --quantize "
            "int8 --demo."
        )
    sources = vendor_sources(vendor_from) if vendor_from else {}
    demo = os.path.join(folder, DEMO_DIR)
    if os.path.exists(demo) and not os.path.isdir(demo):
        raise UsageError(f"{demo!r} is a file; move it away, then export with --demo again.")
    os.makedirs(os.path.join(demo, "vendor") if sources else demo, exist_ok=True)
    written = write_js_module(folder)
    for name in DEMO_FILES:
        if _install(os.path.join(HERE, DEMO_DIR, name), os.path.join(demo, name)):
            written.append(f"{DEMO_DIR}/{name}")
    info = json.dumps(model_info(folder), indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    write_atomically(os.path.join(demo, "model_info.json"), info)
    written.append(f"{DEMO_DIR}/model_info.json")
    for name, path in sources.items():
        if _install(path, os.path.join(demo, "vendor", name)):
            written.append(f"{DEMO_DIR}/vendor/{name}")
    return written
