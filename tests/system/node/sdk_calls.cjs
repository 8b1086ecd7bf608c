// Runs calls of Nhost's JavaScript SDK (@nhost/nhost-js) against otpflow's
// ingest and prints what the SDK returned or threw, one JSON document, for
// tests/system/test_compat.py to assert on (C1).
//
//   NODE_PATH=$(scripts/node-deps.sh) node sdk_calls.cjs CALLS.json
//
// CALLS.json: [{"name", "authUrl", "method" (an nhost.auth method, e.g.
// "signUpPasswordlessSms"), "body" (its argument, if any), "headers"
// (extra request headers, optional)}]. Each result: {"name", "ok",
// "status", "body"} for an answer, or {"name", "ok": false, "error"
// ("FetchError" for the SDK's own error class, else the class thrown:
// TypeError, SyntaxError...), "status", "body", "message"} for a throw.
'use strict';

const fs = require('fs');
const { createClient } = require('@nhost/nhost-js');
const { FetchError } = require('@nhost/nhost-js/fetch');

async function run(call) {
  const nhost = createClient({ authUrl: call.authUrl });
  const method = nhost.auth[call.method];
  if (typeof method !== 'function') {
    throw new Error(`nhost.auth.${call.method} is not a function`);
  }
  const options = call.headers ? { headers: call.headers } : undefined;
  const args = call.body === undefined ? [options] : [call.body, options];
  try {
    const res = await method.apply(nhost.auth, args);
    return { name: call.name, ok: true, status: res.status, body: res.body };
  } catch (err) {
    return {
      name: call.name,
      ok: false,
      // The bundle minifies class names: ask the class itself.
      error: err instanceof FetchError ? 'FetchError' : err.constructor.name,
      status: err.status === undefined ? null : err.status,
      body: err.body === undefined ? null : err.body,
      message: err.message,
    };
  }
}

async function main() {
  const calls = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const results = [];
  for (const call of calls) {
    results.push(await run(call));
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stderr.write(`sdk_calls: ${err.stack}\n`);
  process.exit(1);
});
