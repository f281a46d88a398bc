import { test, expect, chromium, type Browser, type Page } from '@playwright/test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { expectPlaying, joinCall, person, uniqueRoom } from '../tests/helpers';
import { BASE_URL, LAB_PEOPLE, browserEndpoints, constrainCamera, limit, netlab, recordPeerConnections, shownFrames, snapshot, watchFrames } from './lab';
import { figures, line, seenBy } from './measure';

// A call of LAB_PEOPLE (4) through the SFU with one person on a weak link: LIMIT_DIR (down:
// server to them, or up) limited to LIMIT_KBIT kbit/s (0: no limit) for person LIMIT_WHO
// (default the last). The limit starts when everyone's page is loaded, before anyone joins
// (LIMIT_AT=join), or once everyone sees everyone (LIMIT_AT=call). After WARMUP seconds
// (default 5) the call is measured for SECS seconds (default 20) from getStats in every
// page. Prints one line per person and writes the figures as JSON to LAB_OUT if set.
const SECS = Number(process.env.SECS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 5);
const KBIT = Number(process.env.LIMIT_KBIT ?? 500);
const DIR = (process.env.LIMIT_DIR ?? 'down') as 'down' | 'up';
const WHO = Number(process.env.LIMIT_WHO ?? LAB_PEOPLE);
const AT = process.env.LIMIT_AT ?? 'join';
const CAM = (process.env.CAM ?? '640x360@15').split(/[x@]/).map(Number);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();

test('a call with one person on a weak link', async () => {
  test.setTimeout((SECS + WARMUP + 240) * 1000);
  const browsers: Browser[] = [];
  for (const ws of browserEndpoints()) browsers.push(await chromium.connect(ws));
  expect(browsers.length).toBe(LAB_PEOPLE);
  const nicks = browsers.map((_, i) => `P${i + 1}`);
  const limitText = KBIT > 0 ? `${DIR} ${KBIT} kbit/s` : 'no limit';
  const room = uniqueRoom('lab');
  const pages: Page[] = [];
  for (let i = 0; i < browsers.length; i++) {
    pages.push(await person(browsers[i], `/room/${room}`, nicks[i], async (page) => {
      await page.context().addInitScript(recordPeerConnections);
      await page.context().addInitScript(constrainCamera, CAM);
    }, { baseURL: BASE_URL }));
  }
  const applyLimit = () => KBIT > 0 && limit(WHO, { [DIR]: KBIT });
  if (AT === 'join') applyLimit();
  for (const p of pages) await joinCall(p);
  // Everyone sees everyone: on a weak link that may not happen; say so and measure anyway.
  const notPlaying: string[] = [];
  for (let i = 0; i < pages.length; i++) {
    await expect(pages[i].locator('.grid .tile:not(.me)')).toHaveCount(pages.length - 1, { timeout: 30_000 });
    for (const n of nicks) {
      if (n === nicks[i]) continue;
      await expectPlaying(pages[i], n, 20_000).catch(() => notPlaying.push(`${nicks[i]} <- ${n}`));
    }
  }
  if (notPlaying.length) console.log(`not playing when the measurement starts: ${notPlaying.join(', ')}`);
  if (AT === 'call') applyLimit();
  await pages[0].waitForTimeout(WARMUP * 1000);
  const load0 = loadavg();
  const s0 = await Promise.all(pages.map(snapshot));
  await Promise.all(pages.map(watchFrames));
  await pages[0].waitForTimeout(SECS * 1000);
  const shown = await Promise.all(pages.map((p) => shownFrames(p)));
  const s1 = await Promise.all(pages.map(snapshot));
  const load1 = loadavg();
  const people = pages.map((_, i) => figures(nicks[i], i + 1 === WHO && KBIT > 0 ? limitText : '', s0[i], s1[i], shown[i]));
  console.log(`\n== ${LAB_PEOPLE} people, P${WHO} ${limitText} (from ${AT}), camera ${CAM.join('x').replace(/x(\d+)$/, '@$1')}, ${SECS} s; loadavg ${load0} -> ${load1}`);
  for (const p of people) console.log(line(p));
  for (const n of nicks) console.log(seenBy(n, people));
  const tbf = netlab('stats').trim();
  if (tbf) console.log(`the limit (tbf, whole run):\n${tbf}`);
  const summary = {
    limit: { who: `P${WHO}`, dir: DIR, kbit: KBIT, at: AT, queueMs: Number(process.env.NOOM_LAB_QUEUE_MS ?? 200) },
    secs: SECS, warmup: WARMUP, camera: CAM, server: process.env.NOOM_LAB_BIN ?? 'target/release/noom',
    loadavg: [load0, load1], notPlaying, tbf, people,
  };
  if (process.env.LAB_OUT) {
    mkdirSync(dirname(process.env.LAB_OUT), { recursive: true });
    writeFileSync(process.env.LAB_OUT, JSON.stringify(summary, null, 2));
  }
  for (const p of pages) await p.context().close();
  for (const b of browsers) await b.close();
});
