// Drives the official TypeScript SDK (@sentdm/sentdm) against sentstub, as a
// user would, and prints one JSON document of what it saw. server/sdk_test.go
// runs it with SENT_BASE_URL (the stub) and SENT_DM_API_KEY (a demo key) set
// and asserts on the output; the script itself asserts nothing.
import Sent, { APIError, AuthenticationError, NotFoundError } from '@sentdm/sentdm';
import { VERSION } from '@sentdm/sentdm/version';

const ORDER = 'd4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8'; // Acme's, active
const EU = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9'; // Acme EU profile's
const EU_PROFILE = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const GLOBEX = '1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d'; // another organization's

// Records the headers of every request the SDK makes, then passes it on to
// the global fetch unchanged: the report says what the SDK sends.
const sent = [];
function recordingFetch(input, init = {}) {
  const headers = Object.fromEntries(new Headers(init.headers).entries());
  sent.push({ method: init.method, url: String(input), headers, body: init.body ?? null });
  return fetch(input, init);
}

// No retries: one SDK call is one HTTP request, so errors are not muddied.
const client = new Sent({ maxRetries: 0, fetch: recordingFetch }); // baseURL and apiKey from the environment
const out = { sdk_version: VERSION, base_url: client.baseURL, steps: {} };

function headersOf(response) {
  const pick = ['content-type', 'idempotent-replayed', 'x-original-request-id', 'x-request-id', 'x-sandbox'];
  const h = {};
  for (const k of pick) {
    const v = response.headers.get(k);
    if (v !== null) h[k] = v;
  }
  return h;
}

// ok runs a call through .withResponse(), which also gives the raw Response.
async function ok(name, promise) {
  const n = sent.length;
  try {
    const { data, response } = await promise.withResponse();
    out.steps[name] = { ok: true, status: response.status, headers: headersOf(response), body: data, request: sent[n] };
  } catch (e) {
    out.steps[name] = failure(e, sent[n]);
  }
}

// plain awaits a call as most code does: it resolves to the parsed body.
async function plain(name, promise) {
  const n = sent.length;
  try {
    out.steps[name] = { ok: true, body: await promise, request: sent[n] };
  } catch (e) {
    out.steps[name] = failure(e, sent[n]);
  }
}

function failure(e, request) {
  return {
    ok: false,
    class: e?.constructor?.name,
    is_api_error: e instanceof APIError,
    is_not_found: e instanceof NotFoundError,
    is_authentication: e instanceof AuthenticationError,
    status: e?.status ?? null,
    message: String(e?.message ?? e),
    error: e?.error ?? null, // the parsed JSON body of the error response
    request,
  };
}

const params = { is_active: false, sandbox: false, 'Idempotency-Key': 'req_abc123_retry1' };
await ok('deactivate', client.webhooks.toggleStatus(ORDER, params));
await ok('replay', client.webhooks.toggleStatus(ORDER, params));
await ok('flip', client.webhooks.toggleStatus(ORDER, {}));
await plain('other_org', client.webhooks.toggleStatus(GLOBEX, {}));
const nobody = new Sent({ apiKey: 'sk_test_nobody', maxRetries: 0, fetch: recordingFetch });
await plain('bad_key', nobody.webhooks.toggleStatus(ORDER, {}));
await ok('profile', client.webhooks.toggleStatus(EU, { is_active: false, 'x-profile-id': EU_PROFILE }));
await ok('sandbox', client.webhooks.toggleStatus(ORDER, { sandbox: true }));
// The call as the SDK's README writes it: a client with every default but the
// environment's base URL and key (so default retries and the global fetch),
// awaited for the envelope.
await plain('defaults', new Sent().webhooks.toggleStatus(ORDER, { is_active: true }));

process.stdout.write(JSON.stringify(out, null, 2) + '\n');
