// Benchmark: what a first visit costs. Against a running Noom server (scripts/run.sh, or
// target/release/noom --precompressed), a fresh Chromium context (empty cache) loads a page
// RUNS times; reports the bytes over the wire by kind (brotli where served so) and the time
// from navigation start until the page is hydrated (body[data-hydrated], set by the app's
// first effect), median and max.
//
//   node end2end/bench-load.mjs [URL] [RUNS]      e.g. http://127.0.0.1:3000/ 10
import { chromium } from '@playwright/test';

const url = process.argv[2] ?? 'http://127.0.0.1:3000/';
const runs = Number(process.argv[3] ?? 10);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium' });
const times = [];
let bytes;
for (let i = 0; i < runs; i++) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.body?.dataset.hydrated === 'true') {
        window.noomHydratedAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { attributes: true, subtree: true, attributeFilter: ['data-hydrated'] });
  });
  await page.goto(url);
  await page.waitForFunction(() => window.noomHydratedAt !== undefined);
  times.push(await page.evaluate(() => window.noomHydratedAt));
  bytes = await page.evaluate(() => {
    const byKind = {};
    const nav = performance.getEntriesByType('navigation')[0];
    byKind.html = nav.transferSize;
    for (const r of performance.getEntriesByType('resource')) {
      const kind = r.name.split('?')[0].split('.').pop();
      byKind[kind] = (byKind[kind] ?? 0) + r.transferSize;
    }
    return byKind;
  });
  await context.close();
}
await browser.close();
times.sort((a, b) => a - b);
const total = Object.values(bytes).reduce((a, b) => a + b, 0);
console.log(`${url}: ${runs} cold loads`);
console.log(`bytes over the wire: ${JSON.stringify(bytes)} = ${(total / 1024).toFixed(1)} KB`);
console.log(`navigation start -> hydrated: median ${times[Math.floor(runs / 2)].toFixed(0)} ms, max ${times[runs - 1].toFixed(0)} ms`);
