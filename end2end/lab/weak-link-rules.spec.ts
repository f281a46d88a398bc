import { test, expect, chromium, type Browser, type Page } from '@playwright/test';
import { joinCall, person, tile, uniqueRoom } from '../tests/helpers';
import { BASE_URL, browserEndpoints, constrainCamera, limit } from './lab';

// What a call through the SFU does for someone whose downlink cannot carry it: the rules of
// issue 18, asserted on mechanisms (what decodes, what is paused and says so, which layer
// the others get), never on timings. Four browsers in their own network namespaces (the
// lab, lab/README.md); P4's downlink limited to 300 kbit/s with a 200 ms queue once the
// pages are loaded. Run by `scripts/test.sh` through `lab/run.sh`.
const LIMIT_KBIT = 300;

/** Per remote person: inbound audio samples (total, concealed) and video frames decoded, and the height. */
function inbound(page: Page) {
  return page.evaluate(async () => {
    const pc: RTCPeerConnection = (window as any).noomPeers.get(0);
    const report = await pc.getStats();
    // Which tile shows which track: the tile's label is "<nick>'s video".
    const owner: Record<string, string> = {};
    for (const fig of Array.from(document.querySelectorAll('.grid figure[aria-label]'))) {
      const stream = fig.querySelector('video')?.srcObject as MediaStream | null;
      const nick = (fig.getAttribute('aria-label') ?? '').replace(/'s video$/, '');
      for (const t of stream?.getTracks?.() ?? []) owner[t.id] = nick;
    }
    const out: Record<string, { samples: number; concealed: number; frames: number; height: number }> = {};
    report.forEach((s: any) => {
      if (s.type !== 'inbound-rtp') return;
      const nick = owner[s.trackIdentifier];
      if (!nick) return;
      const o = (out[nick] ??= { samples: 0, concealed: 0, frames: 0, height: 0 });
      if (s.kind === 'audio') {
        o.samples += s.totalSamplesReceived ?? 0;
        o.concealed += s.concealedSamples ?? 0;
      } else {
        o.frames += s.framesDecoded ?? 0;
        o.height = Math.max(o.height, s.frameHeight ?? 0);
      }
    });
    return out;
  });
}

test('on a 300 kbit/s downlink audio from everyone and the pinned video keep playing, the other tiles say they are paused, and nobody else is affected', async () => {
  test.setTimeout(240_000);
  const browsers: Browser[] = [];
  for (const ws of browserEndpoints()) browsers.push(await chromium.connect(ws));
  expect(browsers.length).toBe(4);
  const nicks = ['P1', 'P2', 'P3', 'P4'];
  const room = uniqueRoom('weak');
  const pages: Page[] = [];
  for (let i = 0; i < 4; i++) {
    pages.push(await person(browsers[i], `/room/${room}`, nicks[i], (page) => page.context().addInitScript(constrainCamera, [640, 360, 15]), { baseURL: BASE_URL }));
  }
  const p4 = pages[3];
  // P4's page is loaded; from now on its downlink carries 300 kbit/s.
  limit(4, { down: LIMIT_KBIT });
  for (const p of pages) await joinCall(p);
  await expect(p4.locator('.grid .tile:not(.me)')).toHaveCount(3, { timeout: 60_000 });
  // P4 pins P1: of the three videos, P1's matters most to P4.
  await tile(p4, 'P1').getByRole('button', { name: 'Pin' }).click();
  await expect(tile(p4, 'P1')).toHaveClass(/pinned/);

  // The others' tiles say their video is paused for P4's connection; P1's does not.
  for (const n of ['P2', 'P3']) {
    await expect(tile(p4, n).getByText('Video paused: poor connection')).toBeVisible({ timeout: 60_000 });
  }
  await expect(tile(p4, 'P1').getByText('Video paused: poor connection')).toBeHidden();
  // P4 sees, and everyone sees on P4's tile, that its connection is not good.
  await expect(tile(p4, 'P4').locator('.quality')).not.toHaveAttribute('data-quality', 'good', { timeout: 30_000 });
  await expect(tile(pages[0], 'P4').locator('.quality')).not.toHaveAttribute('data-quality', 'good', { timeout: 30_000 });

  // Over the next 10 s: every voice keeps decoding for P4 (mostly real audio, not
  // concealment), and so does the pinned video.
  const before = await inbound(p4);
  await p4.waitForTimeout(10_000);
  const after = await inbound(p4);
  for (const n of ['P1', 'P2', 'P3']) {
    const samples = after[n].samples - before[n].samples;
    const real = samples - (after[n].concealed - before[n].concealed);
    expect(samples, `audio from ${n} arrives`).toBeGreaterThan(48_000 * 5);
    expect(real / samples, `audio from ${n} is mostly real`).toBeGreaterThan(0.9);
  }
  expect(after.P1.frames - before.P1.frames, 'the pinned video keeps decoding').toBeGreaterThan(30);
  // The paused videos send nothing to P4 (a frame or two in flight at most).
  for (const n of ['P2', 'P3']) expect(after[n].frames - before[n].frames, `${n}'s paused video`).toBeLessThan(5);

  // The unlimited people are not affected: each gets the other two at the higher layer (180p
  // of a 640x360 camera: Chrome sends 90p and 180p). (What P4 sends is P4's own matter: the
  // feedback for its uplink comes back over its weak downlink.)
  for (const [k, p] of pages.slice(0, 3).entries()) {
    const others = ['P1', 'P2', 'P3'].filter((n) => n !== nicks[k]);
    await expect
      .poll(async () => { const v = await inbound(p); return Math.min(...others.map((n) => v[n]?.height ?? 0)); }, { timeout: 30_000 })
      .toBeGreaterThanOrEqual(180);
  }

  // The link recovers: the paused tiles resume by themselves.
  limit(4, { down: 0 });
  for (const n of ['P2', 'P3']) {
    await expect(tile(p4, n).getByText('Video paused: poor connection')).toBeHidden({ timeout: 60_000 });
  }
  const resumed = await inbound(p4);
  await p4.waitForTimeout(3_000);
  const later = await inbound(p4);
  for (const n of ['P2', 'P3']) expect(later[n].frames - resumed[n].frames, `${n}'s video resumed`).toBeGreaterThan(5);

  for (const p of pages) await p.context().close();
  for (const b of browsers) await b.close();
});
