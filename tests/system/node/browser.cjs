// A page on another origin calling otpflow's ingest with fetch, in headless
// Chromium (Debian's /usr/bin/chromium) driven by playwright-core (C2).
// Prints one JSON document for tests/system/test_compat.py to assert on.
//
//   NODE_PATH=$(scripts/node-deps.sh) node browser.cjs PAGE_URL API_URL PROFILE_DIR
//
// PAGE_URL serves an empty page (the other origin); API_URL is ingest's
// base URL with its prefix. The page makes, in order: the sign-up and the
// sign-in of a valid number, a bad phone number (a readable JSON error),
// and a second sign-in (its preflight is cached: the browser sends no
// second OPTIONS). The result lists every call's status and body and every
// request the browser sent to the API (method and URL).
'use strict';

const { chromium } = require('playwright-core');

async function main() {
  const [pageUrl, apiUrl, profile] = process.argv.slice(2);
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync',
    ],
  });
  const sent = [];
  try {
    const page = await browser.newPage();
    page.on('request', (req) => {
      if (req.url().startsWith(apiUrl)) {
        sent.push({ method: req.method(), url: req.url() });
      }
    });
    await page.goto(pageUrl);
    const calls = await page.evaluate(async (api) => {
      const call = async (route, body) => {
        try {
          const res = await fetch(api + route, {
            method: 'POST',
            credentials: 'include',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
          });
          return { status: res.status, body: await res.json() };
        } catch (err) {
          return { thrown: String(err) };
        }
      };
      return [
        await call('/signup/passwordless/sms',
                   { phoneNumber: '+14155550901' }),
        await call('/signin/passwordless/sms',
                   { phoneNumber: '+1 (415) 555-0902',
                     options: { locale: 'fr' } }),
        await call('/signin/passwordless/sms', { phoneNumber: 'not a phone' }),
        await call('/signin/passwordless/sms',
                   { phoneNumber: '+14155550903' }),
      ];
    }, apiUrl);
    process.stdout.write(JSON.stringify({ origin: new URL(pageUrl).origin,
                                          calls, sent }));
  } finally {
    await browser.close();
  }
}

main().catch((err) => {
  process.stderr.write(`browser: ${err.stack}\n`);
  process.exit(1);
});
