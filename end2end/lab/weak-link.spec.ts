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
// page. Prints one line per person and writes the figures as JSON to LAB_OUT if set. With
// RECOVER_SECS, the limit is then lifted and, that many seconds later, the call measured
// again for SECS seconds: does the limited person get back what the others have?
const SECS = Number(process.env.SECS ?? 20);
const WARMUP = Number(process.env.WARMUP ?? 5);
const KBIT = Number(process.env.LIMIT_KBIT ?? 500);
const DIR = (process.env.LIMIT_DIR ?? 'down') as 'down' | 'up';
const WHO = Number(process.env.LIMIT_WHO ?? LAB_PEOPLE);
const AT = process.env.LIMIT_AT ?? 'join';
const RECOVER_SECS = Number(process.env.RECOVER_SECS ?? 0);
const CAM = (process.env.CAM ?? '640x360@15').split(/[x@]/).map(Number);
const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim();

test('a call with one person on a weak link', async () => {
  test.setTimeout((2 * SECS + RECOVER_SECS + WARMUP + 240) * 1000);
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
  // One window: getStats before and after SECS seconds, and the frames each tile shows.
  const measure = async (secs: number, limited: string) => {
    const load0 = loadavg();
    const s0 = await Promise.all(pages.map(snapshot));
    await Promise.all(pages.map(watchFrames));
    await pages[0].waitForTimeout(secs * 1000);
    const shown = await Promise.all(pages.map((p) => shownFrames(p)));
    const s1 = await Promise.all(pages.map(snapshot));
    const people = pages.map((_, i) => figures(nicks[i], i + 1 === WHO ? limited : '', s0[i], s1[i], shown[i]));
    return { people, loadavg: [load0, loadavg()] };
  };
  const print = (title: string, people: ReturnType<typeof figures>[]) => {
    console.log(title);
    for (const p of people) console.log(line(p));
    for (const n of nicks) console.log(seenBy(n, people));
  };
  const { people, loadavg: load } = await measure(SECS, KBIT > 0 ? limitText : '');
  const cam = CAM.join('x').replace(/x(\d+)$/, '@$1');
  print(`\n== ${LAB_PEOPLE} people, P${WHO} ${limitText} (from ${AT}), camera ${cam}, ${SECS} s; loadavg ${load[0]} -> ${load[1]}`, people);
  const tbf = netlab('stats').trim();
  if (tbf) console.log(`the limit (tbf, whole run):\n${tbf}`);
  // Recovery: the limit lifted, RECOVER_SECS to settle, then another window of SECS.
  let after;
  if (RECOVER_SECS > 0 && KBIT > 0) {
    limit(WHO, { [DIR]: 0 });
    await pages[0].waitForTimeout(RECOVER_SECS * 1000);
    after = await measure(SECS, 'limit lifted');
    print(`\n== the same call ${RECOVER_SECS} s after P${WHO}'s limit was lifted, ${SECS} s; loadavg ${after.loadavg[0]} -> ${after.loadavg[1]}`, after.people);
  }
  const summary = {
    limit: { who: `P${WHO}`, dir: DIR, kbit: KBIT, at: AT, queueMs: Number(process.env.NOOM_LAB_QUEUE_MS ?? 200) },
    secs: SECS, warmup: WARMUP, camera: CAM, server: process.env.NOOM_LAB_BIN ?? 'target/release/noom',
    loadavg: load, notPlaying, tbf, people, recoverSecs: RECOVER_SECS, after,
  };
  if (process.env.LAB_OUT) {
    mkdirSync(dirname(process.env.LAB_OUT), { recursive: true });
    writeFileSync(process.env.LAB_OUT, JSON.stringify(summary, null, 2));
  }
  for (const p of pages) await p.context().close();
  for (const b of browsers) await b.close();
});
