import { test, expect } from '@playwright/test';
import { cspViolations, cuttableSocket, expectPlaying, joinCall, person, say, tile, uniqueRoom } from './helpers';

// Peer-to-peer calls (two people, the default --p2p-max): real Chromium peers with fake
// camera and microphone, connected over loopback only. SFU calls: sfu.spec.ts.
// Up to five browsers encoding video on two cores: give these tests room (a limit on a
// hang, not a timing goal; call set-up time is measured in BENCHMARKS.md).
test.describe.configure({ timeout: 120_000 });

test('two people see and hear each other; mute and camera-off show on the other side', async ({ browser }) => {
  const room = uniqueRoom('call2');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');

  // Pickers are filled from enumerateDevices (two fake cameras and microphones).
  await expect(ana.getByLabel('Camera').locator('option')).toHaveCount(2);
  await expect(ana.getByLabel('Microphone').locator('option')).not.toHaveCount(0);

  await joinCall(ana);
  await expect(bo.getByText('1 in the call: Ana')).toBeVisible();
  await joinCall(bo);

  await expectPlaying(ana, 'Bo');
  await expectPlaying(bo, 'Ana');
  await expect(ana.locator('.grid .tile')).toHaveCount(2);

  await bo.getByRole('button', { name: 'Mute' }).click();
  await expect(tile(ana, 'Bo').getByText('Muted')).toBeVisible();
  await expect(bo.getByRole('button', { name: 'Unmute' })).toBeVisible();
  await bo.getByRole('button', { name: 'Camera off' }).click();
  await expect(tile(ana, 'Bo').getByText('Camera off')).toBeVisible();
  await expect(tile(ana, 'Bo')).toHaveClass(/camera-off/);

  await bo.getByRole('button', { name: 'Unmute' }).click();
  await bo.getByRole('button', { name: 'Camera on' }).click();
  await expect(tile(ana, 'Bo').getByText('Muted')).toBeHidden();
  await expect(tile(ana, 'Bo').getByText('Camera off')).toBeHidden();

  // Switching camera mid-call uses replaceTrack: the sent track changes, the negotiated
  // session does not (same local description), and the other side keeps playing.
  const sentVideo = () =>
    ana.evaluate(() => {
      const pc: RTCPeerConnection = [...(window as any).noomPeers.entries()].find(([id]) => id !== 0)[1];
      const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
      return { label: sender?.track?.label, sdp: pc.localDescription?.sdp };
    });
  const before = await sentVideo();
  const cameras = ana.getByLabel('Camera');
  const second = await cameras.locator('option').nth(1);
  expect(await second.textContent()).not.toBe(before.label);
  await cameras.selectOption((await second.getAttribute('value'))!);
  await expect.poll(async () => (await sentVideo()).label).toBe(await second.textContent());
  expect((await sentVideo()).sdp).toBe(before.sdp);
  await expectPlaying(bo, 'Ana');

  // Whoever speaks is highlighted (the fake microphone beeps).
  await expect(tile(ana, 'Bo')).toHaveClass(/speaking/, { timeout: 15_000 });

  // All of it (hydration, the socket, chat, devices, the call) ran under the page's
  // Content-Security-Policy without it blocking anything.
  await say(bo, 'all under the CSP');
  await expect(ana.getByText('all under the CSP')).toBeVisible();
  for (const p of [ana, bo]) expect(await cspViolations(p)).toEqual([]);

  for (const p of [ana, bo]) await p.context().close();
});

test('screen sharing replaces the camera and ends cleanly', async ({ browser }) => {
  const room = uniqueRoom('share');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await joinCall(ana);
  await joinCall(bo);
  await expectPlaying(bo, 'Ana');

  await ana.getByRole('button', { name: 'Share screen' }).click();
  await expect(ana.getByRole('button', { name: 'Stop sharing' })).toBeVisible();
  await expect(tile(bo, 'Ana').getByText('Sharing screen')).toBeVisible();
  await expectPlaying(bo, 'Ana');

  await ana.getByRole('button', { name: 'Stop sharing' }).click();
  await expect(tile(bo, 'Ana').getByText('Sharing screen')).toBeHidden();
  await expectPlaying(bo, 'Ana');

  // The browser's own "Stop sharing" ends the track (its `ended` event): Noom goes back
  // to the camera by itself.
  await ana.getByRole('button', { name: 'Share screen' }).click();
  await expect(tile(bo, 'Ana').getByText('Sharing screen')).toBeVisible();
  await tile(ana, 'Ana').locator('video').evaluate((v: HTMLVideoElement) => {
    const screen = (v.srcObject as MediaStream).getVideoTracks()[0];
    screen.dispatchEvent(new Event('ended'));
  });
  await expect(ana.getByRole('button', { name: 'Share screen' })).toBeVisible();
  await expect(tile(bo, 'Ana').getByText('Sharing screen')).toBeHidden();
  await expectPlaying(bo, 'Ana');
  for (const p of [ana, bo]) await p.context().close();
});

test('after a dropped connection the call comes back by itself', async ({ browser }) => {
  const room = uniqueRoom('recall');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  await joinCall(ana);

  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const bo = await person(browser, `/room/${room}`, 'Bo', async (p) => (socket = await cuttableSocket(p)));
  await joinCall(bo);
  await expectPlaying(ana, 'Bo');

  await socket.cut();
  await expect(tile(ana, 'Bo')).toHaveCount(0);
  socket.restore();
  await expect(bo.locator('.conn-status[data-status="online"]')).toBeVisible();
  await expectPlaying(ana, 'Bo');
  await expectPlaying(bo, 'Ana');
  for (const p of [ana, bo]) await p.context().close();
});

test('without camera or microphone permission, a person is told and can still join to watch', async ({ browser }) => {
  const room = uniqueRoom('denied');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  await joinCall(ana);

  // This browser refuses getUserMedia, as when a person clicks "Block".
  const bo = await person(browser, `/room/${room}`, 'Bo', (p) =>
    p.context().addInitScript(() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
    }),
  );
  await expect(bo.getByText('Camera and microphone unavailable (permission was denied)')).toBeVisible();

  await bo.getByRole('button', { name: 'Join call' }).click();
  await expectPlaying(bo, 'Ana');
  await expect(tile(ana, 'Bo').getByText('Muted')).toBeVisible();
  await expect(tile(ana, 'Bo').getByText('Camera off')).toBeVisible();
  for (const p of [ana, bo]) await p.context().close();
});

test('when the call code fails to download, it is fetched again and the call still starts', async ({ browser }) => {
  const room = uniqueRoom('engine');
  // The call engine is a lazily loaded WASM chunk: the first download of it fails.
  let downloads = 0;
  const ana = await person(browser, `/room/${room}`, 'Ana', (page) =>
    page.route(/split_call_engine\.wasm$/, (route) => (downloads++ === 0 ? route.abort() : route.continue())),
  );
  const bo = await person(browser, `/room/${room}`, 'Bo');
  // Meanwhile the rest of the page works.
  await say(ana, 'still here');
  await expect(bo.getByText('still here')).toBeVisible();

  await expect.poll(() => ana.getByLabel('Your camera preview').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  expect(downloads).toBeGreaterThan(1);
  await joinCall(ana);
  await joinCall(bo);
  await expectPlaying(ana, 'Bo');
  await expectPlaying(bo, 'Ana');
  for (const p of [ana, bo]) await p.context().close();
});
