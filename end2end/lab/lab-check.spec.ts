import { test, expect, chromium } from '@playwright/test';
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_URL, LAB_PEOPLE, browserEndpoints, limit } from './lab';

// The lab itself: a limit gives the rate it says (down and up), lifting it works mid-run, Playwright's
// control link stays fast while the limited link is saturated, and the namespaces reach
// only what they should. Fast (about 30 s); run it after changing netlab.sh or setup.ts.

/** The site's largest file in pkg/ (the WASM), as a path under the site root. */
function largestAsset() {
  const pkg = join(process.env.LAB_SITE!, 'pkg');
  const files = readdirSync(pkg).filter((f) => !/\.(br|gz)$/.test(f));
  files.sort((a, b) => statSync(join(pkg, b)).size - statSync(join(pkg, a)).size);
  return `/pkg/${files[0]}`;
}

/** Fetch `path` in the page; kbit/s over the wire (encoded body size / duration). */
async function download(page: import('@playwright/test').Page, path: string) {
  return page.evaluate(async (path) => {
    const url = `${path}?${Math.random()}`;
    const t0 = performance.now();
    const r = await fetch(url, { cache: 'no-store' });
    await r.arrayBuffer();
    const secs = (performance.now() - t0) / 1000;
    const entry = performance.getEntriesByName(new URL(url, location.href).href).pop() as PerformanceResourceTiming;
    return { bytes: entry.encodedBodySize, secs, kbps: (entry.encodedBodySize * 8) / secs / 1000 };
  }, path);
}

function reaches(ns: string, url: string) {
  try {
    execFileSync('ip', ['netns', 'exec', ns, 'curl', '-s', '-o', '/dev/null', '-m', '2', url]);
    return true;
  } catch {
    return false;
  }
}

test('the lab limits what it says and nothing else', async () => {
  test.setTimeout(120_000);
  const i = LAB_PEOPLE;
  const browser = await chromium.connect(browserEndpoints()[i - 1]);
  const page = await (await browser.newContext({ baseURL: BASE_URL })).newPage();
  await page.goto('/');
  const asset = largestAsset();

  limit(i, { down: 1000 });
  const limited = await download(page, asset);
  console.log(`downlink limited to 1000 kbit/s: ${limited.bytes} bytes in ${limited.secs.toFixed(1)} s = ${limited.kbps.toFixed(0)} kbit/s`);
  expect(limited.bytes).toBeGreaterThan(100_000); // long enough to measure a rate
  // TCP's slow start and the machine's load cost some of the rate, never more than the limit.
  expect(limited.kbps).toBeGreaterThan(700);
  expect(limited.kbps).toBeLessThan(1050);

  // While the limited link is saturated (its 200 ms queue full), the control link is not.
  limit(i, { down: 300 });
  const busy = download(page, asset);
  await page.waitForTimeout(2000);
  const rtts: number[] = [];
  for (let k = 0; k < 10; k++) {
    const t0 = Date.now();
    await page.evaluate(() => 1);
    rtts.push(Date.now() - t0);
  }
  console.log(`control round trips while the limited link is full: ${rtts.join(' ')} ms`);
  expect(Math.max(...rtts)).toBeLessThan(150);
  await busy;

  // Lifted: far faster (the best of two downloads: one can stall on a busy machine).
  limit(i, { down: 0 });
  const free = Math.max((await download(page, asset)).kbps, (await download(page, asset)).kbps);
  console.log(`limit lifted: ${free.toFixed(0)} kbit/s`);
  expect(free).toBeGreaterThan(3 * limited.kbps);

  // Uplink: a TCP sink in srv times 200 kB that bI sends (outside the browser: the limit is
  // the namespace's, whoever sends).
  limit(i, { up: 500 });
  const sink = `import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("10.77.0.1", 9999)); s.listen(1)
c,_=s.accept(); n=0; t0=None
while True:
    b=c.recv(65536)
    if not b: break
    t0=t0 or time.time(); n+=len(b)
print(n, time.time()-t0)`;
  const received = new Promise<string>((resolve, reject) =>
    execFile('ip', ['netns', 'exec', 'srv', 'python3', '-c', sink], (e, out) => (e ? reject(e) : resolve(out))));
  await new Promise((r) => setTimeout(r, 500));
  execFileSync('ip', ['netns', 'exec', `b${i}`, 'bash', '-c', 'head -c 200000 /dev/zero > /dev/tcp/10.77.0.1/9999']);
  const [bytes, secs] = (await received).trim().split(' ').map(Number);
  const upKbps = (bytes * 8) / secs / 1000;
  console.log(`uplink limited to 500 kbit/s: ${bytes} bytes in ${secs.toFixed(1)} s = ${upKbps.toFixed(0)} kbit/s`);
  expect(upKbps).toBeGreaterThan(350);
  expect(upKbps).toBeLessThan(525);
  limit(i, { up: 0 });

  // Reach: browser namespaces see Noom and their own control peer only; srv sees no control link.
  expect(reaches(`b${i}`, `${BASE_URL}/healthz`)).toBe(true);
  expect(reaches(`b${i}`, 'http://10.99.1.2:9300/')).toBe(false);
  expect(reaches('srv', `http://10.99.${i}.2:9300/`)).toBe(false);
  await browser.close();
});
