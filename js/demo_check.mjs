// node js/demo_check.mjs URL TEXTS.json OUT.json [SCREENSHOT.png]
// Opens an hf_bilstm demo page (demo/ of an exported folder, served over HTTP) in headless Chromium, reads the
// milliseconds from navigation start to the first answer on the screen, then types each text of TEXTS.json and reads
// the label and scores the page shows. Writes {first_answer_ms, engine, timings, answers: [{label, scores, run_ms, engine}],
// console}, where engine is what answered first (the page's status), run_ms what the text's answer cost in the page
// (and engine what gave it: a slow answer switches the page to ONNX Runtime Web once that has started), and
// timings says when each step of the first answer ended (the page's hf_bilstm:* marks; each file fetched: its last
// byte), in ms after navigation start.
// Chromium: CHROMIUM (default /usr/bin/chromium). Used by tests/test_javascript.py.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const [url, textsFile, outFile, screenshot] = process.argv.slice(2);
const texts = JSON.parse(await readFile(textsFile, 'utf8'));
const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'hf-bilstm-chromium-'));
// No network: flags that stop Chromium's own connections (refused on a closed network, slowly and many at a time).
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 900, height: 620 },
});
const messages = [];
try {
  const page = await context.newPage();
  page.on('console', (message) => messages.push(`${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => messages.push(`pageerror: ${error.message}`));
  const failed = new Promise((_, reject) => page.on('pageerror', (error) => reject(error)));
  await page.goto(url);
  await Promise.race([page.waitForSelector('body[data-first-answer-ms]', { state: 'attached', timeout: 60000 }), failed]);
  const firstAnswerMs = Number(await page.getAttribute('body', 'data-first-answer-ms'));
  const engine = await page.getAttribute('body', 'data-engine');
  const warmUpRuns = Number(await page.getAttribute('body', 'data-warm-up-runs'));
  const timings = await page.evaluate(() => Object.fromEntries([
    ...performance.getEntriesByType('mark').filter((mark) => mark.name.startsWith('hf_bilstm:'))
      .map((mark) => [mark.name.slice('hf_bilstm:'.length), Math.round(mark.startTime)]),
    ...performance.getEntriesByType('resource')
      .map((entry) => [`fetched ${new URL(entry.name).pathname}`, Math.round(entry.responseEnd)]),
  ].sort((a, b) => a[1] - b[1])));
  if (screenshot) await page.screenshot({ path: screenshot });
  const answers = [];
  for (const text of texts) {
    if (text.wait_for_engine) {
      // {"wait_for_engine": PREFIX} in TEXTS.json: wait until the page answers with that engine (after a switch).
      const prefix = text.wait_for_engine;
      await page.waitForFunction((p) => document.body.dataset.engine?.startsWith(p), prefix, { timeout: 60000 });
      continue;
    }
    await page.fill('#text', text);
    await page.waitForFunction((expected) => document.body.dataset.text === expected, text, { timeout: 30000 });
    answers.push(await page.evaluate(() => ({
      label: document.getElementById('label').textContent,
      run_ms: Number(document.body.dataset.lastRunMs),
      engine: document.body.dataset.lastEngine,
      scores: Object.fromEntries([...document.querySelectorAll('#scores .row')].map(
        (row) => [row.dataset.label, Number(row.dataset.score)])),
    })));
  }
  await writeFile(outFile, JSON.stringify({ first_answer_ms: firstAnswerMs, engine, warm_up_runs: warmUpRuns, timings, answers, console: messages }));
} catch (error) {
  console.error(String(error), messages.join('\n'));
  process.exitCode = 1;
} finally {
  await context.close();
}
