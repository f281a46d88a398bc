import { test, expect, type Page } from '@playwright/test';
import { execSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { expectPlaying, joinCall, person, uniqueRoom } from '../tests/helpers';

// What six people in one SFU call cost the server: CPU (share of one core) and resident
// memory, over SECS seconds once everyone sees everyone. Run with NOOM_P2P_MAX=0 or 2 (the
// default: six people are past it either way). Cameras are 320x180 at 15 fps, as in the tests.
const SECS = Number(process.env.SECS ?? 20);

function serverPid(): number {
  return Number(execSync("pgrep -f '^target/release/noom$' | head -1").toString().trim());
}
function cpuSecs(pid: number) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}
function rssMiB(pid: number) {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

test('server cost of a six-person call', async ({ browser }) => {
  const pid = serverPid();
  const rss0 = rssMiB(pid);
  const room = uniqueRoom('six');
  const pages: Page[] = [];
  for (const n of ['P1', 'P2', 'P3', 'P4', 'P5', 'P6']) {
    const p = await person(browser, `/room/${room}`, n, (page) =>
      page.context().addInitScript(() => {
        const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
        navigator.mediaDevices.getUserMedia = (c?: MediaStreamConstraints) =>
          gum(c && c.video ? { ...c, video: { ...(typeof c.video === 'object' ? c.video : {}), width: 320, height: 180, frameRate: 15 } } : c);
      }),
    );
    await joinCall(p);
    pages.push(p);
  }
  for (const p of pages) await expect(p.locator('.grid .tile:not(.me)')).toHaveCount(5);
  await expectPlaying(pages[0], 'P6');
  const c0 = cpuSecs(pid);
  const t0 = Date.now();
  await pages[0].waitForTimeout(SECS * 1000);
  const cpu = cpuSecs(pid) - c0;
  const secs = (Date.now() - t0) / 1000;
  console.log(`six-person call, ${secs.toFixed(0)} s: server CPU ${((cpu / secs) * 100).toFixed(1)} % of a core, RSS ${rss0.toFixed(1)} MiB before -> ${rssMiB(pid).toFixed(1)} MiB during`);
  for (const p of pages) await p.context().close();
});
