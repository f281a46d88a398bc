import { test, expect, type Page } from '@playwright/test';
import { cspViolations, cuttableSocket, expectPlaying as expectPlayingWithin, joinCall, person, tile, uniqueRoom } from './helpers';

// Calls through the SFU (str0m, in the server): real Chromium peers with fake devices,
// loopback only. The server runs with --max-call-size 6 (playwright.config.ts) and the
// default --p2p-max 2. Many browsers encoding video on two cores: a generous limit on a
// hang (set-up times are measured in BENCHMARKS.md, not here).
test.describe.configure({ timeout: 240_000 });

/** The ids of the page's peer connections (`window.noomPeers`; the SFU is 0). */
function peerIds(page: Page) {
  return page.evaluate(() => [...((window as any).noomPeers?.keys() ?? [])].sort());
}

/** Up to six browsers encode and decode here at once: a wider limit on a hang. */
const expectPlaying = (page: Page, nick: string) => expectPlayingWithin(page, nick, 30_000);

function screenTile(page: Page, nick: string) {
  return page.getByRole('figure', { name: `${nick}'s screen` });
}

/** A small fake camera (320x180, 15 fps): six of them must fit on CI's two cores. */
async function smallCamera(page: Page) {
  await page.context().addInitScript(() => {
    const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = (c?: MediaStreamConstraints) => {
      if (c && c.video) {
        const base = typeof c.video === 'object' ? c.video : {};
        c = { ...c, video: { ...base, width: 320, height: 180, frameRate: 15 } };
      }
      return gum(c);
    };
  });
}

test('two people are peer to peer; a third moves the call to the SFU by itself and nobody loses video', async ({ browser }) => {
  const room = uniqueRoom('grow');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await joinCall(ana);
  await joinCall(bo);
  await expectPlaying(ana, 'Bo');
  const boId = await bo.evaluate(() => Number(document.querySelector('.tile.me')?.getAttribute('data-conn-id')));
  // Peer to peer with Bo, and a connection to the SFU prepared (no media on it).
  expect(await peerIds(ana)).toEqual([0, boId]);

  const cy = await person(browser, `/room/${room}`, 'Cy');
  await joinCall(cy);
  // Everyone now has one connection, to the SFU, and sees the two others.
  for (const p of [ana, bo, cy]) await expect.poll(() => peerIds(p)).toEqual([0]);
  for (const [p, others] of [[ana, ['Bo', 'Cy']], [bo, ['Ana', 'Cy']], [cy, ['Ana', 'Bo']]] as const) {
    for (const o of others) await expectPlaying(p, o);
  }
  // Mute shows through the SFU as well.
  await cy.getByRole('button', { name: 'Mute' }).click();
  await expect(tile(ana, 'Cy').getByText('Muted')).toBeVisible();

  // One leaves: the rest go on, still on the SFU (no flapping back and forth).
  await cy.getByRole('button', { name: 'Leave call' }).click();
  await expect(tile(ana, 'Cy')).toHaveCount(0);
  await expectPlaying(ana, 'Bo');
  await expectPlaying(bo, 'Ana');
  expect(await peerIds(ana)).toEqual([0]);
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('six people in one call each see five remote videos playing; a seventh is told the call is full', async ({ browser }) => {
  const room = uniqueRoom('six');
  const names = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6'];
  const pages: Page[] = [];
  for (const n of names) {
    const p = await person(browser, `/room/${room}`, n, smallCamera);
    await joinCall(p);
    pages.push(p);
  }
  for (const [i, p] of pages.entries()) {
    await expect(p.locator('.grid .tile:not(.me)')).toHaveCount(5);
    for (const [j, other] of names.entries()) if (i !== j) await expectPlaying(p, other);
  }
  const seventh = await person(browser, `/room/${room}`, 'P7');
  await seventh.getByRole('button', { name: 'Join call' }).click();
  await expect(seventh.getByRole('alert').filter({ hasText: 'This call is full (6)' })).toBeVisible();
  for (const p of [...pages, seventh]) await p.context().close();
});

test('a screen share is an extra tile for everyone while the camera keeps going', async ({ browser }) => {
  const room = uniqueRoom('sfushare');
  const pages: Page[] = [];
  for (const n of ['Ana', 'Bo', 'Cy']) {
    const p = await person(browser, `/room/${room}`, n, smallCamera);
    await joinCall(p);
    pages.push(p);
  }
  const [ana, bo, cy] = pages;
  await expect.poll(() => peerIds(ana)).toEqual([0]);
  await ana.getByRole('button', { name: 'Share screen' }).click();
  await expect(ana.getByRole('button', { name: 'Stop sharing' })).toBeVisible();
  for (const p of [bo, cy]) {
    const screen = screenTile(p, 'Ana').locator('video');
    await expect.poll(() => screen.evaluate((v: HTMLVideoElement) => v.videoWidth), { timeout: 20_000 }).toBeGreaterThan(0);
    // The camera tile is still there and playing, next to the screen.
    await expectPlaying(p, 'Ana');
  }
  await expect(screenTile(ana, 'Ana')).toBeVisible();
  await ana.getByRole('button', { name: 'Stop sharing' }).click();
  for (const p of [bo, cy]) await expect(screenTile(p, 'Ana')).toHaveCount(0);
  await expectPlaying(bo, 'Ana');
  for (const p of pages) await p.context().close();
});

test('a pinned tile gets a higher resolution than the same person shown small (simulcast), and a layer nobody receives is not encoded (dynacast)', async ({ browser }) => {
  const room = uniqueRoom('pin');
  // Ana's camera is 640x480: two simulcast layers (160x120 and 320x240).
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo', smallCamera);
  const cy = await person(browser, `/room/${room}`, 'Cy', smallCamera);
  for (const p of [ana, bo, cy]) await joinCall(p);
  // Bo shows Ana as a small tile; Cy pins her (large).
  await bo.setViewportSize({ width: 420, height: 700 });
  await cy.setViewportSize({ width: 1280, height: 900 });
  await tile(cy, 'Ana').getByRole('button', { name: 'Pin' }).click();
  await expect(tile(cy, 'Ana')).toHaveClass(/pinned/);
  const width = (p: Page) => tile(p, 'Ana').locator('video').evaluate((v: HTMLVideoElement) => v.videoWidth);
  await expect.poll(() => width(bo), { timeout: 20_000 }).toBeGreaterThan(0);
  await expect.poll(async () => (await width(cy)) > (await width(bo)), { timeout: 20_000 }).toBe(true);
  // Dynacast: Ana encodes the layers someone receives (the SFU says which, `call_layers`).
  const activeLayers = () =>
    ana.evaluate(() => {
      const pc: RTCPeerConnection = (window as any).noomPeers.get(0);
      const camera = pc.getSenders().find((s) => s.track?.kind === 'video' && s.getParameters().encodings.length > 1);
      return camera!.getParameters().encodings.filter((e) => e.active !== false).map((e) => e.rid).sort();
    });
  const whilePinned = await activeLayers();
  expect(whilePinned.length).toBeGreaterThanOrEqual(2);
  // Unpinned, Cy's tile is small again and so is the layer.
  await tile(cy, 'Ana').getByRole('button', { name: 'Unpin' }).click();
  await cy.setViewportSize({ width: 420, height: 700 });
  await expect.poll(() => width(cy), { timeout: 20_000 }).toBe(await width(bo));
  // Nobody receives Ana's higher layer any more: her browser stops encoding it.
  await expect.poll(async () => (await activeLayers()).length, { timeout: 20_000 }).toBeLessThan(whilePinned.length);
  expect(await activeLayers()).toContain('q');
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('an ICE restart and a cut socket both recover the SFU call by themselves', async ({ browser }) => {
  const room = uniqueRoom('sfuback');
  const ana = await person(browser, `/room/${room}`, 'Ana', smallCamera);
  const bo = await person(browser, `/room/${room}`, 'Bo', smallCamera);
  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const cy = await person(browser, `/room/${room}`, 'Cy', async (p) => {
    await smallCamera(p);
    socket = await cuttableSocket(p);
  });
  for (const p of [ana, bo, cy]) await joinCall(p);
  await expect.poll(() => peerIds(cy)).toEqual([0]);
  await expectPlaying(ana, 'Cy');

  // A network change: the browser restarts ICE on the same connection (new credentials,
  // renegotiated with the SFU), and the media goes on without rejoining.
  const ufrag = () =>
    cy.evaluate(() => (window as any).noomPeers.get(0).localDescription.sdp.match(/a=ice-ufrag:(\S+)/)[1] as string);
  const before = await ufrag();
  await cy.evaluate(() => (window as any).noomPeers.get(0).restartIce());
  await expect.poll(ufrag).not.toBe(before);
  await expectPlaying(cy, 'Ana');
  await expectPlaying(ana, 'Cy');

  // The socket is cut for 3 s: Cy is back in the call by itself.
  await socket.cut();
  await expect(tile(ana, 'Cy')).toHaveCount(0);
  await cy.waitForTimeout(3000);
  socket.restore();
  await expect(cy.locator('.conn-status[data-status="online"]')).toBeVisible();
  await expectPlaying(ana, 'Cy');
  await expectPlaying(cy, 'Ana');
  await expectPlaying(cy, 'Bo');
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('through the SFU every control works: camera switch without renegotiation, speaking, camera off, a receive-only person', async ({ browser }) => {
  const room = uniqueRoom('sfuctl');
  const ana = await person(browser, `/room/${room}`, 'Ana', smallCamera);
  const bo = await person(browser, `/room/${room}`, 'Bo', smallCamera);
  // Cy's browser refuses the camera and microphone: she joins to watch.
  const cy = await person(browser, `/room/${room}`, 'Cy', (p) =>
    p.context().addInitScript(() => {
      navigator.mediaDevices.getUserMedia = () => Promise.reject(new DOMException('denied', 'NotAllowedError'));
    }),
  );
  await joinCall(ana);
  await joinCall(bo);
  await cy.getByRole('button', { name: 'Join call' }).click();
  await expect(cy.getByRole('button', { name: 'Leave call' })).toBeVisible();
  for (const p of [ana, bo, cy]) await expect.poll(() => peerIds(p)).toEqual([0]);
  await expectPlaying(cy, 'Ana');
  await expectPlaying(cy, 'Bo');
  await expect(tile(ana, 'Cy').getByText('Camera off')).toBeVisible();

  // Switching camera: the camera's sender gets the new track, the SDP stays the same.
  const sent = () =>
    ana.evaluate(() => {
      const pc: RTCPeerConnection = (window as any).noomPeers.get(0);
      const sender = pc.getSenders().find((s) => s.track?.kind === 'video');
      return { label: sender?.track?.label, sdp: pc.localDescription?.sdp };
    });
  const before = await sent();
  const second = ana.getByLabel('Camera').locator('option').nth(1);
  await ana.getByLabel('Camera').selectOption((await second.getAttribute('value'))!);
  await expect.poll(async () => (await sent()).label).toBe(await second.textContent());
  expect((await sent()).sdp).toBe(before.sdp);
  await expectPlaying(bo, 'Ana');

  // The fake microphone beeps: whoever speaks is highlighted, from the SFU's audio.
  await expect(tile(cy, 'Ana')).toHaveClass(/speaking/, { timeout: 20_000 });

  await bo.getByRole('button', { name: 'Camera off' }).click();
  await expect(tile(ana, 'Bo').getByText('Camera off')).toBeVisible();
  await bo.getByRole('button', { name: 'Camera on' }).click();
  await expect(tile(ana, 'Bo').getByText('Camera off')).toBeHidden();
  await expectPlaying(ana, 'Bo');
  // The SFU's peer connection and simulcast ran under the page's CSP without it blocking anything.
  for (const p of [ana, bo, cy]) expect(await cspViolations(p)).toEqual([]);
  for (const p of [ana, bo, cy]) await p.context().close();
});
