import { test, expect, type Page } from '@playwright/test';
import { open, person, uniqueRoom } from './helpers';

// Korean and English: the language follows the browser (Accept-Language) from the first
// byte of HTML, hydration keeps it, a visible switch changes it and is remembered.
const korean = { locale: 'ko-KR' };

async function koreanName(page: Page, nickname: string) {
  await page.getByLabel('닉네임').fill(nickname);
  await page.getByRole('button', { name: '저장' }).click();
  await expect(page.getByText('저장됨', { exact: true })).toBeVisible();
}

test('a Korean browser gets the page in Korean from the first byte, can switch to English and back', async ({ browser }) => {
  const context = await browser.newContext(korean);
  const page = await context.newPage();
  const response = await page.goto('/');
  // Server-rendered in Korean: no flash of English before hydration.
  const html = await response!.text();
  expect(html).toContain('<html lang="ko"');
  expect(html).toContain('열린 방');
  expect(html).not.toContain('Open rooms');
  await expect(page.locator('body[data-hydrated="true"]')).toBeAttached();
  await expect(page.getByRole('heading', { name: '열린 방' })).toBeVisible();
  await expect(page.getByText('연결됨')).toBeVisible();

  await page.getByLabel('언어').selectOption('en');
  await expect(page.getByRole('heading', { name: 'Open rooms' })).toBeVisible();
  await expect(page.locator('html')).toHaveAttribute('lang', 'en');
  // Remembered: the next page comes from the server in English, though the browser asks for Korean.
  await open(page, '/');
  await expect(page.getByRole('heading', { name: 'Open rooms' })).toBeVisible();
  await page.getByLabel('Language').selectOption('ko');
  await expect(page.getByRole('heading', { name: '열린 방' })).toBeVisible();
  await context.close();
});

test('chat and a call work in Korean', async ({ browser }) => {
  const room = uniqueRoom('korean');
  const ana = await person(browser, '/', undefined, undefined, korean);
  await koreanName(ana, 'Ana');
  await open(ana, `/room/${room}`);
  const bo = await person(browser, '/', undefined, undefined, korean);
  await koreanName(bo, 'Bo');
  await open(bo, `/room/${room}`);
  await expect(ana.getByRole('heading', { level: 1 })).toHaveText(`${room} (2)`);
  await expect(ana.getByRole('list', { name: '채팅' }).getByText('Bo 님이 들어왔어요')).toBeVisible();

  await bo.getByLabel('메시지', { exact: true }).fill('안녕하세요');
  await bo.getByRole('button', { name: '보내기', exact: true }).click();
  await expect(ana.getByText('안녕하세요')).toBeVisible();
  // A refusal in Korean too (typed text checked before sending).
  await bo.getByLabel('메시지', { exact: true }).fill('   ');
  await bo.getByRole('button', { name: '보내기', exact: true }).click();
  await expect(bo.getByText('메시지을(를) 입력하세요')).toBeVisible();
  // Times as Korean writes them ("오후 3:05").
  await expect(ana.locator('.msg time').first()).toHaveText(/^(오전|오후) \d{1,2}:\d{2}$/);
  // Ana is the host: her buttons about Bo are named in Korean.
  await expect(ana.getByRole('button', { name: 'Bo 님을 호스트로 지정' })).toBeVisible();

  // Switching to English re-words what is already on screen: the refusal under the
  // field, the message times, the names of the host's buttons.
  await bo.getByLabel('언어').selectOption('en');
  await expect(bo.getByText('Message must not be empty')).toBeVisible();
  await expect(bo.locator('.msg time').first()).toHaveText(/^\d{1,2}:\d{2}\s?(AM|PM)$/);
  await ana.getByLabel('언어').selectOption('en');
  await expect(ana.getByRole('button', { name: 'Make Bo a host' })).toBeVisible();
  await ana.getByLabel('Language').selectOption('ko');
  await bo.getByLabel('Language').selectOption('ko');
  await expect(bo.getByText('메시지을(를) 입력하세요')).toBeVisible();

  for (const p of [ana, bo]) {
    await expect.poll(() => p.getByLabel('내 카메라 미리보기').evaluate((v: HTMLVideoElement) => v.videoWidth)).toBeGreaterThan(0);
    await p.getByRole('button', { name: '통화 참여' }).click();
    await expect(p.getByRole('button', { name: '통화 나가기' })).toBeVisible();
  }
  await expect(ana.getByRole('figure', { name: 'Bo 님의 영상' })).toBeVisible();
  await bo.getByRole('button', { name: '음소거', exact: true }).click();
  await expect(ana.getByRole('figure', { name: 'Bo 님의 영상' }).getByText('음소거됨')).toBeVisible();
  for (const p of [ana, bo]) await p.context().close();
});
