import { test, expect } from '@playwright/test';
import { chatLog, cspViolations, expectPlaying, joinCall, person, say, uniqueRoom } from './helpers';

// Noom reached as another machine would reach it: by a name (noom.test, mapped to loopback
// by Chromium's --host-resolver-rules), over HTTPS with the self-signed certificate the
// server made itself (--self-signed --tls-name noom.test; see playwright.config.ts), which
// this browser context trusts. Browsers give camera and microphone only to secure pages.
test.describe.configure({ timeout: 180_000 });

test('over https with the self-signed certificate the page is secure: chat goes over wss and a call connects', async ({ browser }) => {
  const room = uniqueRoom('tls');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  expect(ana.url()).toMatch(/^https:\/\/noom\.test:\d+\//);
  expect(await ana.evaluate(() => window.isSecureContext)).toBe(true);

  await say(ana, 'hello over TLS');
  await expect(chatLog(bo).getByText('hello over TLS')).toBeVisible();

  await joinCall(ana);
  await joinCall(bo);
  await expectPlaying(ana, 'Bo');
  await expectPlaying(bo, 'Ana');
  for (const p of [ana, bo]) expect(await cspViolations(p)).toEqual([]);
  for (const p of [ana, bo]) await p.context().close();
});

test('over https a call of three goes through the SFU', async ({ browser }) => {
  const room = uniqueRoom('tls-sfu');
  const people = [];
  for (const nick of ['Ana', 'Bo', 'Cy']) people.push(await person(browser, `/room/${room}`, nick));
  for (const p of people) await joinCall(p);
  const [ana, bo, cy] = people;
  // Everyone has one connection, to the SFU (id 0), and sees the two others.
  for (const p of people) {
    await expect.poll(() => p.evaluate(() => [...((window as any).noomPeers?.keys() ?? [])])).toEqual([0]);
  }
  for (const [p, others] of [[ana, ['Bo', 'Cy']], [bo, ['Ana', 'Cy']], [cy, ['Ana', 'Bo']]] as const) {
    for (const o of others) await expectPlaying(p, o, 30_000);
  }
  for (const p of people) await p.context().close();
});
