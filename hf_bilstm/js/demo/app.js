// The demo page of an hf_bilstm model folder (written by `hf-bilstm export --demo`): the int8 ONNX model in the
// browser through transformers.js and ../hf_bilstm.js. Serve the model folder (`python -m http.server` in it) and
// open /demo/. transformers.js comes from ./vendor/ when present (no network needed), else from a CDN.
import { pipeline } from '../hf_bilstm.js';

const info = await (await fetch('./model_info.json')).json();
const $ = (id) => document.getElementById(id);
$('title').textContent = info.title;
$('card').innerHTML = info.card_html;

async function loadTransformers() {
  try {
    const local = await import('./vendor/transformers.min.js');
    const vendor = new URL('./vendor/', location.href).href;
    // ONNX Runtime Web's plain CPU build: half the WebAssembly of the WebGPU build it picks by default, same answers.
    local.env.backends.onnx.wasm.wasmPaths = {
      mjs: `${vendor}ort-wasm-simd-threaded.mjs`,
      wasm: `${vendor}ort-wasm-simd-threaded.wasm`,
    };
    return local;
  } catch (error) {
    return await import(`https://cdn.jsdelivr.net/npm/@huggingface/transformers@${info.transformers_js_version}`);
  }
}

const transformers = await loadTransformers();
transformers.env.allowRemoteModels = false;
transformers.env.allowLocalModels = true;
// The model folder is the page's parent; transformers.js fetches a path that is not a Hub id relative to the page.
const classify = await pipeline(transformers, '..', { quantized: true });

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
$('status').textContent = `int8 model in your browser (transformers.js ${transformers.env.version}); first answer ` +
  `${firstAnswerMs.toFixed(0)} ms after the page started loading. Type to classify as you write.`;
