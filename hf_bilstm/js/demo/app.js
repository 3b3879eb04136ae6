// The demo page of an hf_bilstm model folder (written by `hf-bilstm export --demo`): the int8 ONNX model in the
// browser through transformers.js and ../hf_bilstm.js. Serve the model folder (`python -m http.server` in it) and
// open /demo/. transformers.js comes from ./vendor/ when present (no network needed), else from a CDN.
import { pipeline } from '../hf_bilstm.js';

// Steps of the first answer, read by js/demo_check.mjs (performance marks, in ms after navigation start).
performance.mark('hf_bilstm:app');
const $ = (id) => document.getElementById(id);
// The card's numbers are not needed for the first answer: fetched alongside the rest, shown when they come.
const info = fetch('./model_info.json').then((response) => response.json());
info.then(({ title, card_html }) => {
  $('title').textContent = title;
  $('card').innerHTML = card_html;
}, () => {});

async function loadTransformers() {
  try {
    const local = await import('./vendor/transformers.min.js');
    const vendor = new URL('./vendor/', location.href).href;
    // ONNX Runtime Web's plain CPU build: half the WebAssembly of the WebGPU build it picks by default, same answers.
    local.env.backends.onnx.wasm.wasmPaths = {
      mjs: `${vendor}ort-wasm-simd-threaded.mjs`,
      wasm: `${vendor}ort-wasm-simd-threaded.wasm`,
    };
    // A first visit's wait is mostly ONNX Runtime starting (WebAssembly compiled, session made). Without these,
    // transformers.js first copies the 14 MB of WebAssembly and the model into the Cache Storage and hands ONNX
    // Runtime the bytes (compiled from a buffer rather than streamed from the response); the browser's HTTP cache
    // still keeps every file for the next visit. Measured: 130-300 ms less of ~1.9 s on 2 busy cores.
    local.env.useWasmCache = false;
    local.env.useBrowserCache = false;
    return local;
  } catch (error) {
    return await import(`https://cdn.jsdelivr.net/npm/@huggingface/transformers@${(await info).transformers_js_version}`);
  }
}

const transformers = await loadTransformers();
performance.mark('hf_bilstm:transformers');
transformers.env.allowRemoteModels = false;
transformers.env.allowLocalModels = true;
// The model folder is the page's parent; transformers.js fetches a path that is not a Hub id relative to the page.
const classify = await pipeline(transformers, '..', { quantized: true });
performance.mark('hf_bilstm:session');

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
