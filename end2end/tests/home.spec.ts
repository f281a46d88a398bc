import { test, expect } from '@playwright/test';
import { open, person, setNickname, uniqueRoom } from './helpers';

test('the home page is server-rendered before any script runs', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const response = await page.goto('/');
  expect(response?.status()).toBe(200);
  await expect(page.getByLabel('Nickname')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Save' })).toBeVisible();
  await expect(page.getByLabel('Room name')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Enter' })).toBeVisible();
  await expect(page.getByRole('list', { name: 'Open rooms' })).toBeAttached();
  await context.close();
});

test('unknown paths go back to the home page', async ({ page }) => {
  await page.goto('/foo/bar');
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByLabel('Room name')).toBeVisible();
});

test('the nickname defaults to Anonymous, is validated inline and survives a reload', async ({ page }) => {
  await open(page, '/');
  await expect(page.getByLabel('Nickname')).toHaveValue('Anonymous');

  await page.getByLabel('Nickname').fill('   ');
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Nickname must not be empty' })).toBeVisible();

  await page.getByLabel('Nickname').fill('x'.repeat(33));
  await page.getByRole('button', { name: 'Save' }).click();
  await expect(page.getByText('Nickname must be at most 32 characters')).toBeVisible();

  await setNickname(page, '  Ada Lovelace  ');
  await expect(page.getByLabel('Nickname')).toHaveValue('Ada Lovelace');
  await page.reload();
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  await expect(page.getByLabel('Nickname')).toHaveValue('Ada Lovelace');
});

test('room names are validated and entering goes to the encoded room URL', async ({ page }) => {
  await open(page, '/');
  await setNickname(page, 'Ada');
  await page.getByLabel('Room name').fill('r'.repeat(65));
  await page.getByRole('button', { name: 'Enter' }).click();
  await expect(page.getByText('Room name must be at most 64 characters')).toBeVisible();

  const room = `${uniqueRoom('Team')} Café #1`;
  await page.getByLabel('Room name').fill(`  ${room}  `);
  await page.getByLabel('Room name').press('Enter');
  await expect(page).toHaveURL(`/room/${encodeURIComponent(room)}`);
  await expect(page.getByRole('heading', { level: 1 })).toHaveText(`${room} (1)`);
});

test('the open rooms list updates live for everyone on the home page', async ({ browser }) => {
  const room = uniqueRoom('live');
  const watcher = await person(browser, '/');
  const list = watcher.getByRole('list', { name: 'Open rooms' });
  const item = list.getByRole('listitem').filter({ hasText: room });
  await expect(item).toHaveCount(0);

  const ana = await person(browser, `/room/${room}`, 'Ana');
  await expect(item).toContainText('1 person');

  const bo = await person(browser, `/room/${room}`, 'Bo');
  await expect(item).toContainText('2 people');

  // A room-list item is a link into the room.
  await expect(item.getByRole('link')).toHaveAttribute('href', `/room/${room}`);

  await bo.getByRole('button', { name: 'Leave' }).click();
  await expect(bo).toHaveURL(/\/$/);
  await expect(item).toContainText('1 person');

  await ana.context().close();
  await expect(item).toHaveCount(0);
  await watcher.context().close();
  await bo.context().close();
});

test('a room link in the list enters the room', async ({ browser }) => {
  const room = uniqueRoom('link');
  const host = await person(browser, `/room/${room}`, 'Host');
  const guest = await person(browser, '/', 'Guest');
  await guest.getByRole('list', { name: 'Open rooms' }).getByRole('link', { name: new RegExp(room) }).click();
  await expect(guest).toHaveURL(`/room/${room}`);
  await expect(guest.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await host.context().close();
  await guest.context().close();
});
