// hf_bilstm.js, written next to the model by `hf-bilstm export`: this folder's text classifier in transformers.js
// (v3 or v4, Node or the browser), with the answers of `hf-bilstm predict`.
//
// transformers.js knows no `bilstm` model type, so its own pipeline() refuses the folder ("Unsupported model type").
// This module loads the same files (config.json, tokenizer.json, tokenizer_config.json, onnx/model.onnx or
// onnx/model_quantized.onnx) with transformers.js's generic classes, and
// - cuts a long text on the side its tokenizer was trained to cut (tokenizer_config.json's truncation_side;
//   transformers.js always keeps the beginning), keeping model_max_length tokens;
// - runs the int8 model one text at a time: its activations are quantized per call, so a text's answer would
//   otherwise depend on the other texts of its batch (hf-bilstm predict does the same).
//
//   import * as transformers from '@huggingface/transformers';
//   import { pipeline } from './hf_bilstm.js';
//   const classify = await pipeline(transformers, 'USER/NAME', { quantized: true });  // or a local folder
//   await classify('A great movie!');            // [{ label: 'pos', score: 0.98 }]
//   await classify(['Great!', 'Awful.']);        // one { label, score } per text
//
// The library is passed in rather than imported, so this file works wherever transformers.js comes from (npm, a CDN,
// a copy served with a page). Options other than `quantized` go to transformers.js's from_pretrained calls.
// classifier(...) below is the same classify() around another tokenizer and ONNX runner (the demo page's).

export async function pipeline(transformers, model, { quantized = false, ...options } = {}) {
  const { AutoConfig, AutoTokenizer, PreTrainedModel, Tensor } = transformers;
  const config = await AutoConfig.from_pretrained(model, options);
  const [tokenizer, network] = await Promise.all([
    AutoTokenizer.from_pretrained(model, options),
    PreTrainedModel.from_pretrained(model, { ...options, config, dtype: quantized ? 'q8' : 'fp32' }),
  ]);
  const classify = classifier({
    config,
    tokenizerConfig: tokenizer.config,
    encode: (text) => tokenizer.encode(text, { add_special_tokens: false }),
    padId: tokenizer.pad_token_id,
    quantized,
    run: async (inputIds, mask, dims) => (await network({
      input_ids: new Tensor('int64', inputIds, dims),
      attention_mask: new Tensor('int64', mask, dims),
    })).logits.tolist(),
  });
  classify.tokenizer = tokenizer;
  classify.model = network;
  classify.config = config;
  return classify;
}

// The same classify(texts, { batch_size, top_k }) around any tokenizer and ONNX runner (the demo page uses it with
// @huggingface/tokenizers and onnxruntime-web directly, so that ONNX Runtime starts while the files download):
// config: config.json; tokenizerConfig: tokenizer_config.json; encode(text) → token ids without special tokens;
// padId: the tokenizer's padding id (config.json's pad_token_id comes first); run(inputIds, mask, [rows, width])
// → a promise of one row of logits per text (inputIds and mask: BigInt64Array, row-major).
export function classifier({ config, tokenizerConfig, encode, padId, quantized = false, run }) {
  const keepEnd = tokenizerConfig.truncation_side === 'left';
  const maxLength = tokenizerConfig.model_max_length ?? Infinity;
  const pad = config.pad_token_id ?? padId ?? 0;
  const labels = config.id2label ?? {};
  const sigmoid = config.problem_type === 'multi_label_classification' || Object.keys(labels).length === 1;

  function ids(text) {
    if (typeof text !== 'string') throw new TypeError(`hf_bilstm: each text must be a string, not ${typeof text}`);
    const all = encode(text);
    if (!(all.length > maxLength)) return all;
    return keepEnd ? all.slice(all.length - maxLength) : all.slice(0, maxLength);
  }

  async function logits(rows) {
    // Padding on the right, as the Python tokenizer pads; an empty text is one padding step the model does not read.
    const width = Math.max(1, ...rows.map((row) => row.length));
    const inputIds = new BigInt64Array(rows.length * width).fill(BigInt(pad));
    const mask = new BigInt64Array(rows.length * width);
    rows.forEach((row, r) => row.forEach((id, t) => {
      inputIds[r * width + t] = BigInt(id);
      mask[r * width + t] = 1n;
    }));
    return run(inputIds, mask, [rows.length, width]);
  }

  function answer(row, top_k) {
    const scores = sigmoid
      ? row.map((x) => 1 / (1 + Math.exp(-x)))
      : (() => {
          const top = Math.max(...row);
          const e = row.map((x) => Math.exp(x - top));
          const sum = e.reduce((a, b) => a + b, 0);
          return e.map((x) => x / sum);
        })();
    const ranked = scores
      .map((score, i) => ({ label: labels[i] ?? `LABEL_${i}`, score }))
      .sort((a, b) => b.score - a.score);
    return top_k === 1 ? ranked[0] : ranked.slice(0, top_k ?? ranked.length);
  }

  // top_k: 1 gives one { label, score } per text; another number (or null: all labels) a list, best first.
  async function classify(texts, { batch_size = 32, top_k = 1 } = {}) {
    const many = Array.isArray(texts);
    const rows = (many ? texts : [texts]).map(ids);
    const size = quantized ? 1 : batch_size;
    const results = [];
    for (let start = 0; start < rows.length; start += size) {
      for (const row of await logits(rows.slice(start, start + size))) results.push(answer(row, top_k));
    }
    return results;
  }
  return classify;
}
