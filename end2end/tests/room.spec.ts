import { test, expect } from '@playwright/test';
import { chatLog, cuttableSocket, members, open, person, say, setNickname, uniqueRoom } from './helpers';

test('two people chat in a room: notices, members, counts, acks', async ({ browser }) => {
  const room = uniqueRoom('lobby');
  const ana = await person(browser, '/', 'Ana');
  await ana.getByLabel('Room name').fill(room);
  await ana.getByRole('button', { name: 'Enter' }).click();
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (1)`);
  // The first one in runs the room.
  await expect(members(ana).getByRole('listitem')).toHaveText(['AAnayouHost']);

  // A deep link works on a fresh load.
  const bo = await person(browser, `/room/${encodeURIComponent(room)}`, 'Bo');
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await expect(bo.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await expect(chatLog(ana).getByText('Bo joined', { exact: true })).toBeVisible();
  await expect(members(bo).locator('li.me')).toContainText('Bo');
  await expect(members(bo).getByRole('listitem')).toHaveCount(2);

  // Send with the button; own message marked as mine and accepted by the server.
  await say(ana, 'Hello Bo!');
  const mine = chatLog(ana).locator('li.msg.mine').filter({ hasText: 'Hello Bo!' });
  await expect(mine).toHaveAttribute('data-status', 'accepted');
  await expect(mine.locator('.who')).toHaveText('Ana');
  // English times as English writes them (the browser's Intl): "3:05 PM".
  await expect(mine.locator('time')).toHaveText(/^\d{1,2}:\d{2}\s?(AM|PM)$/);
  const theirs = chatLog(bo).locator('li.msg').filter({ hasText: 'Hello Bo!' });
  await expect(theirs).toBeVisible();
  await expect(theirs).not.toHaveClass(/mine/);
  await expect(theirs.locator('.who')).toHaveText('Ana');

  // Send with the Enter key.
  await bo.getByLabel('Message').fill('Hi Ana');
  await bo.getByLabel('Message').press('Enter');
  await expect(chatLog(ana).locator('li.msg').filter({ hasText: 'Hi Ana' })).toBeVisible();
  await expect(bo.getByLabel('Message')).toHaveValue('');

  // A nickname change inside the room is announced.
  await setNickname(bo, 'Bob');
  await expect(chatLog(ana).getByText('Bo is now Bob', { exact: true })).toBeVisible();
  await expect(members(ana)).toContainText('Bob');

  // Leave: back home, the other sees the notice and the count.
  await bo.getByRole('button', { name: 'Leave' }).click();
  await expect(bo).toHaveURL(/\/$/);
  await expect(chatLog(ana).getByText('Bob left', { exact: true })).toBeVisible();
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (1)`);

  await ana.context().close();
  await bo.context().close();
});

test('closing the tab counts as leaving', async ({ browser }) => {
  const room = uniqueRoom('tab');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const cy = await person(browser, `/room/${room}`, 'Cy');
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await cy.context().close();
  await expect(chatLog(ana).getByText('Cy left', { exact: true })).toBeVisible();
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (1)`);
  await ana.context().close();
});

test('messages stay in their room, and late joiners see the recent history', async ({ browser }) => {
  const red = uniqueRoom('red');
  const blue = uniqueRoom('blue');
  const ana = await person(browser, `/room/${red}`, 'Ana');
  const bo = await person(browser, `/room/${blue}`, 'Bo');
  await say(ana, 'only for red');
  await expect(chatLog(ana).locator('li.msg.mine[data-status="accepted"]')).toHaveCount(1);
  await say(bo, 'only for blue');
  await expect(chatLog(bo).locator('li.msg.mine[data-status="accepted"]')).toHaveCount(1);
  await expect(chatLog(bo)).not.toContainText('only for red');
  await expect(chatLog(ana)).not.toContainText('only for blue');

  const late = await person(browser, `/room/${red}`, 'Late');
  await expect(chatLog(late).locator('li.msg').filter({ hasText: 'only for red' })).toBeVisible();
  for (const p of [ana, bo, late]) await p.context().close();
});

test('HTML and scripts in chat and nicknames are shown as text, never run', async ({ browser }) => {
  const room = uniqueRoom('xss');
  const evilNick = '<b>x</b>';
  const payload = `<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>`;
  const ana = await person(browser, `/room/${room}`, evilNick);
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await say(ana, payload);
  const line = chatLog(bo).locator('li.msg').filter({ hasText: 'onerror' });
  await expect(line.locator('.text')).toHaveText(payload);
  await expect(line.locator('.who')).toHaveText(evilNick);
  await expect(line.locator('img, script, b')).toHaveCount(0);
  expect(await bo.evaluate(() => (window as any).__pwned)).toBeUndefined();
  expect(await ana.evaluate(() => (window as any).__pwned)).toBeUndefined();
  await ana.context().close();
  await bo.context().close();
});

test('after a dropped connection the page reconnects and loses no message', async ({ browser }) => {
  const room = uniqueRoom('net');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const page = await person(browser, `/room/${room}`, 'Cy', async (p) => (socket = await cuttableSocket(p)));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);

  await socket.cut();
  await expect(page.locator('.conn-status[data-status="offline"]')).toBeVisible();
  await say(page, 'typed while offline');
  await expect(chatLog(page).locator('li.msg.mine')).toHaveAttribute('data-status', 'pending');

  socket.restore();
  await expect(page.locator('.conn-status[data-status="online"]')).toBeVisible();
  await expect(chatLog(page).locator('li.msg.mine')).toHaveAttribute('data-status', 'accepted');
  await expect(chatLog(bo).locator('li.msg').filter({ hasText: 'typed while offline' })).toHaveCount(1);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await page.context().close();
  await bo.context().close();
});

test('when a room page\'s code fails to download, it is fetched again and the room works', async ({ browser }) => {
  const room = uniqueRoom('flaky');
  // The room page's code is a lazily loaded WASM chunk: its downloads fail until the page
  // has said it will try again.
  let blocked = true;
  let failed = 0;
  const ana = await person(browser, '/', 'Ana', (page) =>
    page.route(/split_room_page\.wasm$/, (route) => (blocked ? (failed++, route.abort()) : route.continue())),
  );
  const retrying = ana.waitForEvent('console', (m) => m.text().includes("could not load the room page's code"));
  await ana.goto(`/room/${room}`);
  await retrying;
  expect(failed).toBeGreaterThan(0);
  blocked = false;
  await expect(ana.locator('body[data-hydrated="true"]')).toBeAttached();
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (1)`);
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await say(ana, 'made it');
  await expect(chatLog(bo).getByText('made it')).toBeVisible();
  for (const p of [ana, bo]) await p.context().close();
});

test('screenshots for the README', async ({ browser }) => {
  const room = 'design review';
  const ana = await person(browser, '/', 'Ana');
  const bo = await person(browser, `/room/${encodeURIComponent(room)}`, 'Bo');
  await ana.setViewportSize({ width: 1100, height: 720 });
  await bo.setViewportSize({ width: 390, height: 844 });
  await expect(ana.getByRole('list', { name: 'Open rooms' })).toContainText(room);
  await ana.screenshot({ path: '../docs/screenshots/home.png' });
  await ana.getByRole('list', { name: 'Open rooms' }).getByRole('link', { name: new RegExp(room) }).click();
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await say(bo, 'Morning! Shall we start with the new home page?');
  await say(ana, 'Yes — the room list is live now <3');
  await expect(chatLog(ana).locator('li.msg.mine[data-status="accepted"]')).toHaveCount(1);
  await expect(chatLog(ana).locator('li.msg')).toHaveCount(2);
  // Both in the call, each seeing the other's (fake) camera.
  for (const p of [bo, ana]) {
    await expect.poll(() => p.getByLabel('Your camera preview').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
    await p.getByRole('button', { name: 'Join call' }).click();
  }
  const boTile = ana.getByRole('figure', { name: "Bo's video" }).locator('video');
  await expect.poll(() => boTile.evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  // Bo (first in, the host) shares the room with Ana, then raises a hand: Ana's view shows
  // the host controls and the hand.
  await bo.getByRole('button', { name: 'Make Ana a host' }).click();
  await expect(ana.getByRole('button', { name: 'Lock room' })).toBeVisible();
  await bo.getByRole('button', { name: 'Raise hand' }).click();
  await expect(ana.getByRole('figure', { name: "Bo's video" }).getByRole('img', { name: 'Hand raised' })).toBeVisible();
  await ana.evaluate(() => window.scrollTo(0, 0));
  await ana.screenshot({ path: '../docs/screenshots/room.png', fullPage: true });
  // The same room on a phone-width screen.
  await bo.evaluate(() => window.scrollTo(0, 0));
  await bo.screenshot({ path: '../docs/screenshots/room-phone.png', fullPage: true });
  await ana.context().close();
  await bo.context().close();
});
