// The demo page of an hf_bilstm model folder (written by `hf-bilstm export --demo`): the int8 ONNX model in the
// browser, classified by ../hf_bilstm.js with ONNX Runtime Web and the tokenizer of transformers.js
// (@huggingface/tokenizers), the packages transformers.js runs on. Serve the model folder (`python -m http.server` in
// it) and open /demo/. They come from ./vendor/ when present (no network needed), else from a CDN.
import { classifier } from '../hf_bilstm.js';

// Steps of the first answer, read by js/demo_check.mjs (performance marks, in ms after navigation start).
performance.mark('hf_bilstm:app');
const $ = (id) => document.getElementById(id);
// A first visit's wait is mostly ONNX Runtime starting (its 14 MB of WebAssembly instantiated, its runtime set up),
// which transformers.js' pipeline only begins once the model is downloaded. Here everything starts at once: the four
// files are fetched while ONNX Runtime starts on a one-node model, and the real session is made when both are done.
const fetched = (path, read) => fetch(path).then((response) => {
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return read(response);
});
const files = Promise.all([
  fetched('../config.json', (response) => response.json()),
  fetched('../tokenizer.json', (response) => response.json()),
  fetched('../tokenizer_config.json', (response) => response.json()),
  fetched('../onnx/model_quantized.onnx', (response) => response.arrayBuffer()),
]);
files.catch(() => {});
// The card's numbers are not needed for the first answer: fetched alongside the rest, shown when they come.
const info = fetch('./model_info.json').then((response) => response.json());
info.then(({ title, card_html }) => {
  $('title').textContent = title;
  $('card').innerHTML = card_html;
}, () => {});

async function loadLibraries() {
  const vendor = new URL('./vendor/', location.href).href;
  try {
    return [vendor, ...await Promise.all([import('./vendor/ort.wasm.min.mjs'), import('./vendor/tokenizers.min.mjs')])];
  } catch (error) {
    const { onnxruntime_web_version: ortVersion, tokenizers_version: tokenizersVersion } = await info;
    const cdn = `https://cdn.jsdelivr.net/npm/onnxruntime-web@${ortVersion}/dist/`;
    return [cdn, ...await Promise.all([import(`${cdn}ort.wasm.min.mjs`),
      import(`https://cdn.jsdelivr.net/npm/@huggingface/tokenizers@${tokenizersVersion}/dist/tokenizers.min.mjs`)])];
  }
}

const [wasmFrom, ort, { Tokenizer }] = await loadLibraries();
// ONNX Runtime Web's plain CPU build (the WebGPU one is twice the WebAssembly, same answers). Without cross-origin
// isolation (python -m http.server sends no COOP/COEP headers) it runs on one thread and starts no workers.
ort.env.wasm.wasmPaths = { mjs: `${wasmFrom}ort-wasm-simd-threaded.mjs`, wasm: `${wasmFrom}ort-wasm-simd-threaded.wasm` };
if (!self.crossOriginIsolated) ort.env.wasm.numThreads = 1;
// An Identity model (x → y, one float): creating its session is what starts ONNX Runtime (no other API does).
const IDENTITY = 'CAcSADo3ChAKAXgSAXkiCElkZW50aXR5EgF3Wg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==';
const options = { executionProviders: ['wasm'] };
const started = ort.InferenceSession.create(Uint8Array.from(atob(IDENTITY), (c) => c.charCodeAt(0)), options)
  .then((session) => session.release());
performance.mark('hf_bilstm:libraries');

const [config, tokenizerJson, tokenizerConfig, modelBytes] = await files;
const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
performance.mark('hf_bilstm:tokenizer');
await started;
performance.mark('hf_bilstm:runtime');
const session = await ort.InferenceSession.create(new Uint8Array(modelBytes), options);
performance.mark('hf_bilstm:session');
const pad = tokenizerConfig.pad_token?.content ?? tokenizerConfig.pad_token;
const classify = classifier({
  config,
  tokenizerConfig,
  encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
  padId: pad === undefined ? undefined : tokenizer.token_to_id(pad),
  quantized: true,
  run: async (inputIds, mask, dims) => {
    const { logits } = await session.run({
      input_ids: new ort.Tensor('int64', inputIds, dims),
      attention_mask: new ort.Tensor('int64', mask, dims),
    });
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

let pending = null;
let running = false;
async function update() {
  // One run at a time; while it runs, only the latest text waits (typing fast skips the texts in between).
  if (running) { pending = true; return; }
  running = true;
  do {
    pending = false;
    const text = $('text').value;
    const [ranked] = await classify([text], { top_k: null });
    show(text, ranked);
    document.body.dataset.answered = String(Number(document.body.dataset.answered ?? 0) + 1);
    document.body.dataset.text = text;
  } while (pending);
  running = false;
}

$('text').addEventListener('input', update);
await update();
// Milliseconds from the start of the page's navigation to its first answer on the screen.
const firstAnswerMs = performance.now();
document.body.dataset.firstAnswerMs = firstAnswerMs.toFixed(0);
$('status').textContent = `int8 model in your browser (ONNX Runtime Web ${ort.env.versions?.web ?? ''}); first ` +
  `answer ${firstAnswerMs.toFixed(0)} ms after the page started loading. Type to classify as you write.`;
