/**
 * Shared by the browser tests: the Chromium they drive (Debian's, through
 * playwright-core, which brings no browser of its own), the console-error
 * collector, the screenshot folder and a free port.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

export const root = path.resolve(__dirname, '../..');

/** Screenshots land here (gitignored) for a person to look at. */
export const screenshotDir = path.join(root, 'test-output', 'browser');

const CHROMIUM = process.env.BNLAB_CHROMIUM || '/usr/bin/chromium';

/**
 * Why the browser tests cannot run here, or undefined when they can. A
 * missing Chromium skips them on a workstation; CI (which installs
 * Debian's chromium in .ci/run) sets BNLAB_REQUIRE_BROWSER=1 or CI, and
 * then a missing browser fails instead of passing quietly.
 */
export function browserSkipReason(): string | undefined {
  if (fs.existsSync(CHROMIUM)) return undefined;
  const why = `no Chromium at ${CHROMIUM} (apt-get install chromium, or set BNLAB_CHROMIUM)`;
  if (process.env.BNLAB_REQUIRE_BROWSER || process.env.CI) throw new Error(why);
  return why;
}

/**
 * Headless Chromium with no background traffic: the tests only ever open
 * file:// pages and a JupyterLab on 127.0.0.1, and the machine reaches
 * nothing else anyway, so every "phone home" feature is off.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * Collects a page's console errors and uncaught exceptions into `sink`,
 * labelled with the page, so a failing assertion can list them all.
 */
export function collectErrors(page: Page, label: string, sink: string[], ignore: (text: string) => boolean = () => false): void {
  page.on('console', (msg) => {
    if (msg.type() !== 'error' || ignore(msg.text())) return;
    const loc = msg.location();
    sink.push(`${label}: console.error: ${msg.text()}${loc.url ? ` (${loc.url}:${loc.lineNumber})` : ''}`);
  });
  page.on('pageerror', (err) => {
    if (!ignore(err.message)) sink.push(`${label}: uncaught ${err.name}: ${err.message}`);
  });
}

export function screenshotPath(name: string): string {
  fs.mkdirSync(screenshotDir, { recursive: true });
  return path.join(screenshotDir, name);
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
