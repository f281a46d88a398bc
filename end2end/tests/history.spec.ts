import { test, expect } from '@playwright/test';
import { chatLog, cuttableSocket, flood, open, person, say, shownTexts, uniqueRoom } from './helpers';

const numbered = (from: number, to: number, prefix = 'm') =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}${from + i}`);

test('after a reload the history is there', async ({ browser }) => {
  const room = uniqueRoom('reload');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await say(ana, 'first');
  await say(bo, 'second');
  await expect(chatLog(ana).locator('li.msg')).toHaveCount(2);
  await open(bo, `/room/${room}`);
  await expect.poll(() => shownTexts(bo)).toEqual(['first', 'second']);
  for (const p of [ana, bo]) await p.context().close();
});

test('someone offline while 120 messages are said gets all of them, in order, once', async ({ browser }) => {
  const room = uniqueRoom('away');
  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const away = await person(browser, `/room/${room}`, 'Away', async (p) => (socket = await cuttableSocket(p)));
  const bot = await person(browser, '/');
  await flood(bot, room, ['before']);
  await expect.poll(() => shownTexts(away)).toEqual(['before']);

  await socket.cut();
  await expect(away.locator('.conn-status[data-status="offline"]')).toBeVisible();
  await flood(bot, room, numbered(1, 120));
  socket.restore();
  await expect(away.locator('.conn-status[data-status="online"]')).toBeVisible();
  await expect.poll(() => shownTexts(away)).toEqual(['before', ...numbered(1, 120)]);
  for (const p of [away, bot]) await p.context().close();
});

test('a message typed offline is sent once after reconnecting, even across a page reload', async ({ browser }) => {
  const room = uniqueRoom('outbox');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  let socket!: Awaited<ReturnType<typeof cuttableSocket>>;
  const ana = await person(browser, `/room/${room}`, 'Ana', async (p) => (socket = await cuttableSocket(p)));
  await socket.cut();
  await expect(ana.locator('.conn-status[data-status="offline"]')).toBeVisible();
  await say(ana, 'typed offline');
  await expect(chatLog(ana).locator('li.msg.mine')).toHaveAttribute('data-status', 'pending');

  // Reloaded while still offline: the message is still there, waiting.
  await ana.reload();
  await expect(ana.locator('body[data-hydrated="true"]')).toBeAttached();
  await expect(chatLog(ana).locator('li.msg.mine')).toHaveAttribute('data-status', 'pending');
  await expect(chatLog(ana).locator('li.msg.mine .text')).toHaveText('typed offline');

  socket.restore();
  await expect(chatLog(ana).locator('li.msg.mine')).toHaveAttribute('data-status', 'accepted');
  await expect.poll(() => shownTexts(bo)).toEqual(['typed offline']);
  // And after one more reload, nothing is sent again.
  await open(ana, `/room/${room}`);
  await expect.poll(() => shownTexts(ana)).toEqual(['typed offline']);
  await say(bo, 'done');
  await expect.poll(() => shownTexts(ana)).toEqual(['typed offline', 'done']);
  for (const p of [ana, bo]) await p.context().close();
});

test('"Load earlier messages" pages back to the first message of a room of 200', async ({ browser }) => {
  const room = uniqueRoom('long');
  const bot = await person(browser, '/');
  await flood(bot, room, numbered(1, 200));
  const late = await person(browser, `/room/${room}`, 'Late');
  await expect.poll(() => shownTexts(late)).toEqual(numbered(151, 200));
  const earlier = late.getByRole('button', { name: 'Load earlier messages' });
  for (let pages = 1; pages <= 2; pages++) {
    await earlier.click();
    await expect(chatLog(late).locator('li.msg')).toHaveCount(Math.min(50 + 100 * pages, 200));
  }
  await expect(earlier).toBeHidden();
  await expect.poll(() => shownTexts(late)).toEqual(numbered(1, 200));
  for (const p of [late, bot]) await p.context().close();
});
