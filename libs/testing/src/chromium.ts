import { type Browser, chromium } from 'playwright-core';

/** The browser objects tests drive (playwright-core's), without each test depending on it. */
export type { Browser, Page } from 'playwright-core';

import { findBinary } from './find-binary';

/**
 * Debian's Chromium (CHROMIUM_BIN overrides; scripts/test/ensure-deps.sh installs it) driven by
 * playwright-core: headless, no sandbox (tests run as root), nothing fetched in the background,
 * and playwright's fresh temporary profile. Never a browser playwright downloads: this machine
 * reaches no download site.
 */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findBinary('chromium', 'chromium', process.env['CHROMIUM_BIN']),
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
