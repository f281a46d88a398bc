import { test, expect, type Page } from '@playwright/test';
import { chatLog, open, person, say, setNickname, uniqueRoom } from './helpers';

// The `insecure` project: the same server, reached as http://noom.test:PORT (chromium maps
// the name to 127.0.0.1). Plain http to a name other than localhost is not a secure
// context, so the browser gives the page no camera, microphone or screen capture
// (`navigator.mediaDevices` is undefined): the room must say why calls are not there, and
// chat must work as before.

const explanation = 'Calls need a secure address: open this page over https:// (ask whoever runs this server).';
const explanationKo = '통화하려면 보안 주소가 필요해요. 이 페이지를 https://로 열어 주세요(이 서버를 운영하는 분께 물어보세요).';

/** Record the page's uncaught exceptions (set up before the first load). */
function recordPageErrors(errors: string[]) {
  return async (page: Page) => page.on('pageerror', (e) => errors.push(`${e.name}: ${e.message}`));
}

test('over plain http from another name, the room says calls need https, in English and Korean; chat works', async ({ browser }) => {
  const room = uniqueRoom('insecure');
  const errors: string[] = [];
  const ana = await person(browser, `/room/${room}`, 'Ana', recordPageErrors(errors));
  expect(await ana.evaluate(() => [location.hostname, window.isSecureContext, 'mediaDevices' in navigator && navigator.mediaDevices !== undefined]))
    .toEqual(['noom.test', false, false]);

  // Where the call controls are: the explanation, Join call there but disabled, no black
  // preview, no empty device pickers.
  const note = ana.locator('.call-controls').getByRole('note');
  await expect(note).toHaveText(explanation);
  await expect(ana.getByRole('button', { name: 'Join call' })).toBeDisabled();
  await expect(ana.getByLabel('Your camera preview')).toBeHidden();
  await expect(ana.getByLabel('Camera', { exact: true })).toBeHidden();
  await expect(ana.getByLabel('Microphone', { exact: true })).toBeHidden();
  // Nothing about devices (the camera was never asked for).
  await expect(ana.locator('.device-note')).toBeEmpty();

  // Korean, from the browser's language (Accept-Language).
  const bo = await person(browser, '/', undefined, recordPageErrors(errors), { locale: 'ko-KR' });
  await bo.getByLabel('닉네임').fill('Bo');
  await bo.getByRole('button', { name: '저장' }).click();
  await expect(bo.getByText('저장됨', { exact: true })).toBeVisible();
  await open(bo, `/room/${room}`);
  await expect(bo.locator('.call-controls').getByRole('note')).toHaveText(explanationKo);
  await expect(bo.getByRole('button', { name: '통화 참여' })).toBeDisabled();

  // Chat round-trips both ways, acknowledged by the server.
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await say(ana, 'Hello over plain http');
  const mine = chatLog(ana).locator('li.msg.mine').filter({ hasText: 'Hello over plain http' });
  await expect(mine).toHaveAttribute('data-status', 'accepted');
  await expect(bo.getByRole('list', { name: '채팅' }).getByText('Hello over plain http')).toBeVisible();
  await bo.getByLabel('메시지', { exact: true }).fill('안녕하세요');
  await bo.getByRole('button', { name: '보내기', exact: true }).click();
  await expect(chatLog(ana).locator('li.msg').filter({ hasText: '안녕하세요' })).toBeVisible();

  // The language switch re-words it, and back.
  await ana.getByLabel('Language').selectOption('ko');
  await expect(note).toHaveText(explanationKo);
  await ana.getByLabel('언어').selectOption('en');
  await expect(note).toHaveText(explanation);

  // Clicking the disabled button does nothing, and nothing threw.
  await ana.getByRole('button', { name: 'Join call' }).click({ force: true });
  await expect(ana.getByRole('button', { name: 'Leave call' })).toHaveCount(0);
  expect(errors).toEqual([]);
  for (const p of [ana, bo]) await p.context().close();
});

test('on 127.0.0.1 (a secure context) the same room has no such explanation and Join call works', async ({ browser }, testInfo) => {
  const secure = testInfo.project.use.baseURL!.replace('noom.test', '127.0.0.1');
  const room = uniqueRoom('secure');
  const context = await browser.newContext({ baseURL: secure });
  const page = await context.newPage();
  await open(page, '/');
  await setNickname(page, 'Cy');
  await open(page, `/room/${room}`);
  expect(await page.evaluate(() => window.isSecureContext)).toBe(true);
  await expect(page.getByRole('button', { name: 'Join call' })).toBeEnabled();
  await expect.poll(() => page.getByLabel('Your camera preview').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
  await expect(page.getByText(explanation)).toHaveCount(0);
  await expect(page.locator('.call-unavailable')).toBeEmpty();
  await context.close();
});
