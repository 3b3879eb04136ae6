// writeTimedAnswers(OUT.json, texts, {loadStarted, classify, versions}): what js/classify.mjs and js/onnx_eval.mjs
// write for a client's answers to a list of texts: {answers: [{label, score}], load_seconds (from loadStarted, a
// performance.now() before the client was loaded, to the first text), seconds, reviews_per_second, versions}.
import { writeFile } from 'node:fs/promises';

export async function writeTimedAnswers(outFile, texts, { loadStarted, classify, versions }) {
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const started = performance.now();
  const answers = await classify(texts);
  const seconds = (performance.now() - started) / 1000;
  await writeFile(outFile, JSON.stringify({
    answers,
    load_seconds: loadSeconds,
    seconds,
    reviews_per_second: texts.length / seconds,
    versions,
  }));
}
