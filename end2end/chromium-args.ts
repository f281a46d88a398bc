// Debian's chromium (Playwright's own browser download is not reachable from here), with
// the flags it needs in a sandbox-less, network-less container, and fake camera/mic for
// the call tests. Shared by playwright.config.ts and the network lab (lab/).
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  // Two fake cameras and microphones, so switching devices can be tested.
  '--use-fake-device-for-media-stream=device-count=2',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
];
