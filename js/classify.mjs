// node js/classify.mjs FOLDER TEXTS.json OUT.json [--quantized] [--threads N]
// Labels the texts of TEXTS.json (a JSON list of strings) with FOLDER's hf_bilstm.js in transformers.js (Node,
// onnxruntime-node) and writes {answers: [{label, score}], load_seconds, seconds, reviews_per_second, versions}.
// Used by tests/test_javascript.py and scripts/compare_clients.py.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as transformers from '@huggingface/transformers';
import { writeTimedAnswers } from './timed_answers.mjs';

const [folder, textsFile, outFile, ...flags] = process.argv.slice(2);
if (!folder || !textsFile || !outFile) {
  console.error('usage: node js/classify.mjs FOLDER TEXTS.json OUT.json [--quantized] [--threads N]');
  process.exit(2);
}
const quantized = flags.includes('--quantized');
const threadsAt = flags.indexOf('--threads');
const threads = threadsAt >= 0 ? Number(flags[threadsAt + 1]) : undefined;
const texts = JSON.parse(await readFile(textsFile, 'utf8'));
const absolute = path.resolve(folder);
transformers.env.allowRemoteModels = false;
transformers.env.allowLocalModels = true;
transformers.env.localModelPath = path.dirname(absolute) + path.sep;
const { pipeline } = await import(pathToFileURL(path.join(absolute, 'hf_bilstm.js')).href);
const options = { quantized };
if (threads) options.session_options = { intraOpNumThreads: threads };
const loadStarted = performance.now();
const classify = await pipeline(transformers, path.basename(absolute), options);
await writeTimedAnswers(outFile, texts, {
  loadStarted,
  classify,
  versions: { 'transformers.js': transformers.env.version, node: process.version },
});
