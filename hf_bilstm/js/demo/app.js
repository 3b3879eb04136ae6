// The demo page of an hf_bilstm model folder (written by `hf-bilstm export --demo`): the int8 ONNX model in the
// browser, classified by ../hf_bilstm.js with ../onnx_eval.js (the graph evaluated in plain JavaScript, with ONNX
// Runtime's CPU answers) and the tokenizer of transformers.js (@huggingface/tokenizers). A model with an operator
// onnx_eval.js lacks runs in ONNX Runtime Web instead, as transformers.js would run it. Serve the model folder
// (`python -m http.server` in it) and open /demo/. The libraries come from ./vendor/ when present (no network needed),
// else from a CDN.
import { classifier } from '../hf_bilstm.js';
import { InferenceSession, OnnxEvalError, Tensor, warmUp } from '../onnx_eval.js';

// Steps of the first answer, read by js/demo_check.mjs (performance marks, in ms after navigation start).
performance.mark('hf_bilstm:app');
const $ = (id) => document.getElementById(id);
// ONNX Runtime Web took most of a first visit (its 14 MB of WebAssembly fetched, compiled and started: ~0.9 s on two
// cores) for a model that ../onnx_eval.js evaluates: the page only waits for its files now.
const checked = (path, response, read) => response.then((done) => {
  if (!done.ok) throw new Error(`${path}: HTTP ${done.status}`);
  return read(done);
});
const fetched = (path, read) => checked(path, fetch(path), read);
const MODEL = '../onnx/model_quantized.onnx';

// The model's bytes, read as they arrive into one buffer of the announced size (no copy of the whole file at the end).
async function readBytes(response) {
  const announced = Number(response.headers.get('content-length'));
  if (!response.body || !(announced > 0)) return new Uint8Array(await response.arrayBuffer());
  let bytes = new Uint8Array(announced);
  let size = 0;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > bytes.length) {
      // More than announced (a compressed transfer): a larger buffer.
      const larger = new Uint8Array(Math.max(2 * bytes.length, size + value.length));
      larger.set(bytes.subarray(0, size));
      bytes = larger;
    }
    bytes.set(value, size);
    size += value.length;
  }
  return bytes.subarray(0, size);
}
// index.html started the model's download before this module was fetched (a page without that script fetches it now).
const model = checked(MODEL, window.hfBilstmModel ?? fetch(MODEL), readBytes);
let modelBytes;
const files = Promise.all([
  fetched('../config.json', (response) => response.json()),
  fetched('../tokenizer.json', (response) => response.json()),
  fetched('../tokenizer_config.json', (response) => response.json()),
]);
files.catch(() => {});
model.catch(() => {});
// The card's numbers are not needed for the first answer: fetched alongside the rest, shown when they come.
const info = fetch('./model_info.json').then((response) => response.json());
info.then(({ title, card_html }) => {
  $('title').textContent = title;
  $('card').innerHTML = card_html;
}, () => {});

const CDN = 'https://cdn.jsdelivr.net/npm/';
async function loadLibrary(name, cdnPath) {
  try {
    return { from: new URL('./vendor/', location.href).href, module: await import(`./vendor/${name}`) };
  } catch (error) {
    const from = `${CDN}${cdnPath(await info)}`;
    return { from, module: await import(`${from}${name}`) };
  }
}

// ONNX Runtime Web's plain CPU build (the WebGPU one is twice the WebAssembly, same answers), for a graph with an
// operator onnx_eval.js lacks. Without cross-origin isolation (python -m http.server sends no COOP/COEP headers) it
// runs on one thread and starts no workers.
async function onnxRuntimeWeb() {
  const { from, module: ort } = await loadLibrary('ort.wasm.min.mjs',
    ({ onnxruntime_web_version: version }) => `onnxruntime-web@${version}/dist/`);
  ort.env.wasm.wasmPaths = { mjs: `${from}ort-wasm-simd-threaded.mjs`, wasm: `${from}ort-wasm-simd-threaded.wasm` };
  if (!self.crossOriginIsolated) ort.env.wasm.numThreads = 1;
  performance.mark('hf_bilstm:runtime');
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ['wasm'] });
  return {
    name: `ONNX Runtime Web ${ort.env.versions?.web ?? ''}`.trim(),
    run: async (inputIds, mask, dims) => {
      const { logits } = await session.run({
        input_ids: new ort.Tensor('int64', inputIds, dims),
        attention_mask: new ort.Tensor('int64', mask, dims),
      });
      return logits;
    },
  };
}

function plainJavaScript() {
  const session = InferenceSession.create(modelBytes);
  const run = (inputIds, mask, dims) => session.run({
    input_ids: new Tensor('int64', inputIds, dims),
    attention_mask: new Tensor('int64', mask, dims),
  }).logits;
  return {
    name: 'onnx_eval.js, plain JavaScript',
    run: async (inputIds, mask, dims) => run(inputIds, mask, dims),
    // A run on a few token ids: the weights' one-time layout, and the hot functions at the model's own sizes.
    warm: () => {
      run(Float64Array.of(5, 6, 7, 8), new Float64Array(4).fill(1), [1, 4]);
      performance.mark('hf_bilstm:warmed');
    },
  };
}

// The engine is made as soon as the model's bytes are in (the tokenizer may still be on its way).
let fallback = '';
const engineMade = model.then(async (bytes) => {
  modelBytes = bytes;
  performance.mark('hf_bilstm:model');
  try {
    const made = plainJavaScript();
    performance.mark('hf_bilstm:parsed');
    return made;
  } catch (error) {
    if (!(error instanceof OnnxEvalError)) throw error;
    fallback = ` (${error.message.replace(/;.*/, '')})`;
    return onnxRuntimeWeb();
  }
});
engineMade.catch(() => {});

// Until the first answer can start, the main thread mostly waits for files: it warms up onnx_eval.js's hot functions
// instead (the first answer then runs compiled code: 0.1-0.2 s sooner on two cores), on a small random model while the
// model downloads, then on the model itself while the tokenizer is still to come.
let tokenizerBuilt = false;
const warming = (async () => {
  let runs = await warmUp({ until: model });
  const made = await engineMade;
  if (made.warm && !tokenizerBuilt) {
    made.warm();
    runs++;
  }
  return runs;
})().catch(() => 0);

const { module: { Tokenizer } } = await loadLibrary('tokenizers.min.mjs',
  ({ tokenizers_version: version }) => `@huggingface/tokenizers@${version}/dist/`);
performance.mark('hf_bilstm:libraries');
const [config, tokenizerJson, tokenizerConfig] = await files;
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
tokenizerBuilt = true;
performance.mark('hf_bilstm:tokenizer');
let engine = await engineMade;
document.body.dataset.warmUpRuns = String(await warming);
performance.mark('hf_bilstm:session');
const pad = tokenizerConfig.pad_token?.content ?? tokenizerConfig.pad_token;
const classify = classifier({
  config,
  tokenizerConfig,
  encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
  padId: pad === undefined ? undefined : tokenizer.token_to_id(pad),
  quantized: true,
  run: async (inputIds, mask, dims) => {
    const logits = await engine.run(inputIds, mask, dims);
    const width = logits.dims[1];
    return Array.from({ length: logits.dims[0] }, (_, r) => Array.from(logits.data.subarray(r * width, (r + 1) * width)));
  },
});

function show(text, ranked) {
  $('label').textContent = text.trim() ? ranked[0].label : '';
  $('scores').replaceChildren(...ranked.map(({ label, score }) => {
    const row = document.createElement('div');
    row.className = 'row';
    row.dataset.label = label;
    row.dataset.score = String(score);
    row.innerHTML = '<span class="name"></span><span class="bar"><span class="fill"></span></span><span class="value"></span>';
    row.querySelector('.name').textContent = label;
    row.querySelector('.fill').style.width = `${(100 * score).toFixed(1)}%`;
    row.querySelector('.value').textContent = score.toFixed(4);
    return row;
  }));
}

// A keystroke's answer slower than this (a long text on a slow CPU) starts ONNX Runtime Web (WebAssembly SIMD) in the
// background; the page switches to it once it is ready. Short texts, or a fast CPU, never load it.
// (`?slow_ms=N` in the page's address sets another bound: the tests use 0.)
const SLOW_ANSWER_MS = Number(new URLSearchParams(location.search).get('slow_ms') ?? 150);
let switching = null;
function switchWhenSlow(ms) {
  if (switching || fallback || ms <= SLOW_ANSWER_MS || !document.body.dataset.firstAnswerMs) return;
  const slow = ms.toFixed(0);
  switching = onnxRuntimeWeb().then((faster) => {
    engine = faster;
    document.body.dataset.engine = engine.name;
    $('status').textContent = `int8 model in your browser: answers now come from ${engine.name} (onnx_eval.js took ` +
      `${slow} ms for a keystroke; its first answer came ${document.body.dataset.firstAnswerMs} ms after the page ` +
      'started loading). Type to classify as you write.';
  }, (error) => console.warn(`ONNX Runtime Web did not start, onnx_eval.js goes on: ${error}`));
}

let pending = null;
let running = false;
async function update() {
  // One run at a time; while it runs, only the latest text waits (typing fast skips the texts in between).
  if (running) { pending = true; return; }
  running = true;
  do {
    pending = false;
    const text = $('text').value;
    const started = performance.now();
    const answering = engine;
    const [ranked] = await classify([text], { top_k: null });
    show(text, ranked);
    // What one keystroke costs (tokenizer and model), and which engine answered: read by js/demo_check.mjs.
    const ms = performance.now() - started;
    document.body.dataset.lastRunMs = ms.toFixed(1);
    document.body.dataset.lastEngine = answering.name;
    switchWhenSlow(ms);
    document.body.dataset.answered = String(Number(document.body.dataset.answered ?? 0) + 1);
    document.body.dataset.text = text;
  } while (pending);
  running = false;
}

$('text').addEventListener('input', update);
await update();
performance.mark('hf_bilstm:answer');
// Milliseconds from the start of the page's navigation to its first answer on the screen.
const firstAnswerMs = performance.now();
document.body.dataset.engine = engine.name;
document.body.dataset.firstAnswerMs = firstAnswerMs.toFixed(0);
$('status').textContent = `int8 model in your browser (${engine.name}${fallback}); first answer ` +
  `${firstAnswerMs.toFixed(0)} ms after the page started loading. Type to classify as you write.`;
