import { test, expect, type Page } from '@playwright/test';
import { person, uniqueRoom } from '../tests/helpers';

// Call set-up time as a person feels it: from the second person's click on "Join call" to
// the first remote video frame (requestVideoFrameCallback) on each side. RUNS times.
const RUNS = Number(process.env.RUNS ?? 20);

/** Record, in the page, when the first remote video frame is presented. */
async function watchFirstRemoteFrame(page: Page) {
  await page.evaluate(() => {
    const w = window as any;
    w.firstRemoteFrame = undefined;
    const hook = (v: HTMLVideoElement) => {
      if (v.dataset.benchHooked) return;
      v.dataset.benchHooked = '1';
      v.requestVideoFrameCallback((now) => {
        w.firstRemoteFrame ??= performance.timeOrigin + now;
      });
    };
    const scan = () => document.querySelectorAll<HTMLVideoElement>('.grid .tile:not(.me) video').forEach(hook);
    new MutationObserver(scan).observe(document.body, { childList: true, subtree: true });
    scan();
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

test('call set-up time', async ({ browser }) => {
  const first: number[] = [];
  const second: number[] = [];
  const both: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const room = uniqueRoom('bench');
    const ana = await person(browser, `/room/${room}`, 'Ana');
    const bo = await person(browser, `/room/${room}`, 'Bo');
    for (const p of [ana, bo]) {
      await expect.poll(() => p.getByLabel('Your camera preview').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
    }
    await ana.getByRole('button', { name: 'Join call' }).click();
    await expect(bo.getByText('1 in the call: Ana')).toBeVisible();
    await watchFirstRemoteFrame(ana);
    await watchFirstRemoteFrame(bo);
    const t0: number = await bo.evaluate(() => {
      const button = [...document.querySelectorAll('button')].find((b) => b.textContent === 'Join call')!;
      const t = performance.timeOrigin + performance.now();
      button.click();
      return t;
    });
    const frameAt = (p: Page) => p.evaluate(() => (window as any).firstRemoteFrame as number | undefined);
    await expect.poll(() => frameAt(ana), { timeout: 20_000 }).toBeGreaterThan(0);
    await expect.poll(() => frameAt(bo), { timeout: 20_000 }).toBeGreaterThan(0);
    const a = (await frameAt(ana))! - t0;
    const b = (await frameAt(bo))! - t0;
    first.push(a);
    second.push(b);
    both.push(Math.max(a, b));
    console.log(`run ${i + 1}: first person ${a.toFixed(0)} ms, second person ${b.toFixed(0)} ms`);
    await ana.context().close();
    await bo.context().close();
  }
  const fmt = (xs: number[]) => `median ${median(xs).toFixed(0)} ms, worst ${Math.max(...xs).toFixed(0)} ms`;
  console.log(`call set-up over ${RUNS} runs (click on "Join call" -> first remote frame):`);
  console.log(`  first person sees the second: ${fmt(first)}`);
  console.log(`  second person sees the first: ${fmt(second)}`);
  console.log(`  both see each other:          ${fmt(both)}`);
});
