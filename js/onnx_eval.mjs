// node js/onnx_eval.mjs FOLDER TEXTS.json OUT.json [--quantized]
// node js/onnx_eval.mjs --logits MODEL.onnx IDS.json OUT.json [--evaluator PATH/onnx_eval.js]
// The first form labels the texts of TEXTS.json (a JSON list of strings) with FOLDER's onnx_eval.js (the ONNX graph
// evaluated in plain JavaScript, no ONNX Runtime), its hf_bilstm.js classifier() and the tokenizer of transformers.js
// (@huggingface/tokenizers), as the demo page does, and writes {answers: [{label, score}], load_seconds, seconds,
// reviews_per_second, versions}. The second runs MODEL.onnx on each row of token ids of IDS.json (a JSON list of
// lists; one row per run, batch 1, all tokens read) and writes {logits: [[...], ...]}; the evaluator comes from
// hf_bilstm/js/ of this checkout unless given. Used by tests/test_javascript.py and scripts/compare_clients.py.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeTimedAnswers } from './timed_answers.mjs';

const args = process.argv.slice(2);
const usage = 'usage: node js/onnx_eval.mjs FOLDER TEXTS.json OUT.json [--quantized]\n' +
  '       node js/onnx_eval.mjs --logits MODEL.onnx IDS.json OUT.json [--evaluator onnx_eval.js]';
const moduleUrl = (file) => pathToFileURL(path.resolve(file)).href;

async function logits([model, idsFile, outFile, ...flags]) {
  const at = flags.indexOf('--evaluator');
  const here = path.dirname(fileURLToPath(import.meta.url));
  const evaluator = at >= 0 ? flags[at + 1] : path.join(here, '..', 'hf_bilstm', 'js', 'onnx_eval.js');
  const { InferenceSession, Tensor } = await import(moduleUrl(evaluator));
  const session = InferenceSession.create(new Uint8Array(await readFile(model)));
  const rows = JSON.parse(await readFile(idsFile, 'utf8'));
  const out = rows.map((ids) => {
    const dims = [1, ids.length];
    const { logits: result } = session.run({
      input_ids: new Tensor('int64', ids, dims),
      attention_mask: new Tensor('int64', ids.map(() => 1), dims),
    });
    return Array.from(result.data);
  });
  await writeFile(outFile, JSON.stringify({ logits: out }));
}

async function classify([folder, textsFile, outFile, ...flags]) {
  const quantized = flags.includes('--quantized');
  const absolute = path.resolve(folder);
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const { InferenceSession, Tensor } = await import(moduleUrl(path.join(absolute, 'onnx_eval.js')));
  const { classifier } = await import(moduleUrl(path.join(absolute, 'hf_bilstm.js')));
  const json = async (name) => JSON.parse(await readFile(path.join(absolute, name), 'utf8'));
  const texts = JSON.parse(await readFile(textsFile, 'utf8'));
  const loadStarted = performance.now();
  const [config, tokenizerJson, tokenizerConfig, bytes] = await Promise.all([
    json('config.json'), json('tokenizer.json'), json('tokenizer_config.json'),
    readFile(path.join(absolute, 'onnx', quantized ? 'model_quantized.onnx' : 'model.onnx')),
  ]);
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const session = InferenceSession.create(new Uint8Array(bytes));
  const pad = tokenizerConfig.pad_token?.content ?? tokenizerConfig.pad_token;
  const classifyTexts = classifier({
    config,
    tokenizerConfig,
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
    padId: pad === undefined ? undefined : tokenizer.token_to_id(pad),
    quantized,
    run: async (inputIds, mask, dims) => {
      const { logits: result } = session.run({
        input_ids: new Tensor('int64', inputIds, dims),
        attention_mask: new Tensor('int64', mask, dims),
      });
      const width = result.dims[1];
      return Array.from({ length: result.dims[0] }, (_, r) => Array.from(result.data.subarray(r * width, (r + 1) * width)));
    },
  });
  await writeTimedAnswers(outFile, texts, { loadStarted, classify: classifyTexts, versions: { node: process.version } });
}

try {
  if (args[0] === '--logits' && args.length >= 4) await logits(args.slice(1));
  else if (args.length >= 3 && !args[0].startsWith('--')) await classify(args);
  else {
    console.error(usage);
    process.exitCode = 2;
  }
} catch (error) {
  console.error(String(error.message ?? error));
  process.exitCode = 1;
}
