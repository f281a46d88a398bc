import { test, expect, type Page } from '@playwright/test';
import { chatLog, members, open, person, say, uniqueRoom } from './helpers';

/** Someone's row in the member list. */
function row(page: Page, nick: string) {
  return members(page).getByRole('listitem').filter({ hasText: nick });
}

function notice(page: Page, text: string) {
  return chatLog(page).getByText(text, { exact: true });
}

test('a host locks the room: those inside stay, a newcomer is turned away until it opens', async ({ browser }) => {
  const room = uniqueRoom('lock');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await expect(row(ana, 'Bo')).toBeVisible();
  // Bo is not a host: no lock button for him; Ana has one.
  await expect(bo.getByRole('button', { name: 'Lock room' })).toBeHidden();
  await ana.getByRole('button', { name: 'Lock room' }).click();
  await expect(notice(bo, 'Ana locked the room')).toBeVisible();
  await expect(ana.getByRole('button', { name: 'Unlock room' })).toBeVisible();

  // The home page shows the lock; a deep link is refused with the reason.
  const cy = await person(browser, '/', 'Cy');
  await expect(cy.getByRole('listitem').filter({ hasText: room }).getByRole('img', { name: 'Locked' })).toBeVisible();
  await open(cy, `/room/${room}`);
  await expect(cy.getByRole('alert')).toHaveText('This room is locked.');
  await expect(cy.getByRole('heading', { level: 1 })).toHaveText('Noom');

  await ana.getByRole('button', { name: 'Unlock room' }).click();
  await expect(notice(bo, 'Ana unlocked the room')).toBeVisible();
  await open(cy, `/room/${room}`);
  await expect(cy.getByRole('heading', { level: 1 })).toHaveText(`${room} (3)`);
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('a host removes someone, who cannot come back from that browser', async ({ browser }) => {
  const room = uniqueRoom('remove');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  const cy = await person(browser, `/room/${room}`, 'Cy');
  await expect(row(ana, 'Cy')).toBeVisible();
  // Only a host sees the controls.
  await expect(bo.getByRole('button', { name: 'Remove Cy' })).toHaveCount(0);
  await ana.getByRole('button', { name: 'Remove Bo' }).click();
  await expect(bo.getByRole('alert')).toHaveText(`Ana removed you from ${room}.`);
  await expect(bo).toHaveURL(/\/$/);
  await expect(notice(cy, 'Ana removed Bo')).toBeVisible();
  await expect(row(cy, 'Bo')).toHaveCount(0);
  // Following the link again (a fresh load, same browser) does not get him back in.
  await open(bo, `/room/${room}`);
  await expect(bo.getByRole('alert')).toHaveText('A host removed you from this room.');
  await expect(row(ana, 'Bo')).toHaveCount(0);
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('hands go up in order, a host lowers one; reactions float; a host makes another host', async ({ browser }) => {
  const room = uniqueRoom('hands');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  const cy = await person(browser, `/room/${room}`, 'Cy');
  await expect(row(ana, 'Cy')).toBeVisible();

  await bo.getByRole('button', { name: 'Raise hand' }).click();
  await expect(bo.getByRole('button', { name: 'Lower hand' })).toBeVisible();
  await cy.getByRole('button', { name: 'Raise hand' }).click();
  await expect(notice(ana, 'Bo raised a hand')).toBeVisible();
  await expect(notice(ana, 'Cy raised a hand')).toBeVisible();
  await expect(row(ana, 'Bo').getByRole('img', { name: 'Hand raised' })).toBeVisible();
  // Cy (not a host) cannot lower Bo's hand: there is no button for it.
  await expect(cy.getByRole('button', { name: "Lower Bo's hand" })).toHaveCount(0);
  await ana.getByRole('button', { name: "Lower Bo's hand" }).click();
  await expect(notice(bo, "Ana lowered Bo's hand")).toBeVisible();
  await expect(bo.getByRole('button', { name: 'Raise hand' })).toBeVisible();
  await expect(row(cy, 'Cy').getByRole('img', { name: 'Hand raised' })).toBeVisible();

  await cy.getByRole('button', { name: 'React 🎉' }).click();
  await expect(row(ana, 'Cy').locator('.reaction')).toHaveText('🎉');

  await ana.getByRole('button', { name: 'Make Bo a host' }).click();
  await expect(notice(cy, 'Ana made Bo a host')).toBeVisible();
  await expect(row(cy, 'Bo')).toContainText('Host');
  await expect(bo.getByRole('button', { name: 'Lock room' })).toBeVisible();
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('with the waiting room on, newcomers wait until a host admits or denies them', async ({ browser }) => {
  const room = uniqueRoom('lobby');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  await ana.getByRole('button', { name: 'Turn waiting room on' }).click();
  await expect(notice(ana, 'Ana turned the waiting room on')).toBeVisible();

  const bo = await person(browser, `/room/${room}`, 'Bo');
  await expect(bo.getByText('Waiting for a host to let you in…')).toBeVisible();
  const waiting = ana.getByRole('list', { name: 'Waiting to come in' });
  await expect(waiting.getByRole('listitem')).toHaveText([/Bo/]);
  await ana.getByRole('button', { name: 'Admit Bo' }).click();
  await expect(bo.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await expect(notice(ana, 'Bo joined')).toBeVisible();
  await expect(bo.getByText('Waiting for a host to let you in…')).toHaveCount(0);

  const cy = await person(browser, `/room/${room}`, 'Cy');
  await expect(cy.getByText('Waiting for a host to let you in…')).toBeVisible();
  // Bo is not a host: no Admit/Deny for him.
  await expect(bo.getByRole('button', { name: 'Deny Cy' })).toBeHidden();
  await ana.getByRole('button', { name: 'Deny Cy' }).click();
  await expect(cy.getByRole('alert')).toHaveText('A host did not let you in.');
  await expect(cy).toHaveURL(/\/$/);
  await expect(members(ana).getByRole('listitem')).toHaveCount(2);
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('a host sets a password: a deep link asks for it, a wrong one is refused, the right one lets in', async ({ browser }) => {
  const room = uniqueRoom('password');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const bo = await person(browser, `/room/${room}`, 'Bo');
  await say(ana, 'the plans');
  await expect(bo.getByRole('button', { name: 'Password…' })).toHaveCount(0);
  await ana.getByRole('button', { name: 'Password…' }).click();
  await ana.getByLabel('New room password').fill('open sesame');
  await ana.getByRole('button', { name: 'Set', exact: true }).click();
  // Those inside stay, and are told.
  await expect(notice(bo, 'Ana set a password for the room')).toBeVisible();
  await expect(bo.getByText('🔑 Password')).toBeVisible();

  const cy = await person(browser, '/', 'Cy');
  await expect(cy.getByRole('listitem').filter({ hasText: room }).getByRole('img', { name: 'Password' })).toBeVisible();
  await open(cy, `/room/${room}`);
  await expect(cy.getByRole('heading', { name: 'This room has a password' })).toBeVisible();
  await expect(cy.getByLabel('Message')).toBeHidden();
  await expect(cy.getByText('the plans')).toHaveCount(0);
  await cy.getByLabel('Password', { exact: true }).fill('open sesame!');
  await cy.getByRole('button', { name: 'Enter' }).click();
  await expect(cy.getByText('Wrong password.')).toBeVisible();
  await expect(members(ana).getByRole('listitem')).toHaveCount(2);
  await cy.getByLabel('Password', { exact: true }).fill('open sesame');
  await cy.getByRole('button', { name: 'Enter' }).click();
  await expect(cy.getByRole('heading', { level: 1 })).toHaveText(`${room} (3)`);
  await expect(chatLog(cy).getByText('the plans')).toBeVisible();
  await expect(notice(ana, 'Cy joined')).toBeVisible();

  await ana.getByRole('button', { name: 'Password…' }).click();
  await ana.getByRole('button', { name: 'Remove password' }).click();
  await expect(notice(cy, "Ana removed the room's password")).toBeVisible();
  for (const p of [ana, bo, cy]) await p.context().close();
});

test('someone following a link who never chose a name is asked for one before entering', async ({ browser }) => {
  const room = uniqueRoom('name');
  const ana = await person(browser, `/room/${room}`, 'Ana');
  const dee = await person(browser, `/room/${room}`);
  await expect(dee.getByRole('heading', { name: 'Who are you?' })).toBeVisible();
  // The camera preview is there to get ready; the call and the chat are not, yet.
  await expect.poll(() => dee.getByLabel('Your camera preview').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  await expect(dee.getByRole('button', { name: 'Join call' })).toBeHidden();
  await expect(dee.getByLabel('Message')).toBeHidden();
  await expect(members(ana).getByRole('listitem')).toHaveCount(1);
  await dee.getByLabel('Your name').fill('Dee');
  await dee.getByRole('button', { name: 'Enter' }).click();
  await expect(dee.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await expect(notice(ana, 'Dee joined')).toBeVisible();
  // Chosen once, remembered: the next visit goes straight in.
  await open(dee, `/room/${room}`);
  await expect(dee.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await expect(dee.getByRole('heading', { name: 'Who are you?' })).toHaveCount(0);
  for (const p of [ana, dee]) await p.context().close();
});
