// Drives the official TypeScript SDK (@sentdm/sentdm) with its default two
// retries through sentstub's simulated failures: X-Sentstub-Simulate with
// ";times=N" fails the first N attempts of a call, then lets it run. It
// prints one JSON document of every attempt the SDK made (when, what it
// sent, what it got); server/sdk_faults_test.go asserts on it.
import Sent, { InternalServerError } from '@sentdm/sentdm';

const ORDER = 'd4f5a6b7-c8d9-4e0f-a1b2-c3d4e5f6a7b8'; // Acme's, active

// Records every attempt, then passes it on to the global fetch unchanged.
const attempts = [];
async function recordingFetch(input, init = {}) {
  const headers = new Headers(init.headers);
  const a = {
    at: Date.now(),
    retry_count: headers.get('x-stainless-retry-count'),
    simulate: headers.get('x-sentstub-simulate'),
  };
  attempts.push(a);
  const response = await fetch(input, init);
  a.status = response.status;
  a.retry_after = response.headers.get('retry-after');
  return response;
}

const client = new Sent({ maxRetries: 2, fetch: recordingFetch }); // baseURL and apiKey from the environment
const out = { steps: {} };

async function step(name, call) {
  const n = attempts.length;
  const s = {};
  try {
    const { data } = await call().withResponse();
    Object.assign(s, { ok: true, is_active: data?.data?.is_active ?? null });
  } catch (e) {
    Object.assign(s, {
      ok: false, class: e?.constructor?.name, is_internal: e instanceof InternalServerError,
      status: e?.status ?? null, code: e?.error?.error?.code ?? null,
    });
  }
  s.attempts = attempts.slice(n);
  out.steps[name] = s;
}

const simulate = (value) => ({ headers: { 'X-Sentstub-Simulate': value } });

// A 429 asking for a second, then the call runs.
await step('rate_limited', () => client.webhooks.toggleStatus(ORDER, { is_active: false }, simulate('rate_limited;times=1')));
// Two 500s, then the flip runs, once.
await step('internal_error', () => client.webhooks.toggleStatus(ORDER, {}, simulate('internal_error;times=2')));
// A read through a 503.
await step('unavailable', () => client.webhooks.retrieve(ORDER, {}, simulate('unavailable;times=1')));
// Three 500s are more than two retries: the SDK gives up, and nothing ran.
await step('gives_up', () => client.webhooks.toggleStatus(ORDER, {}, simulate('internal_error;times=3')));
await step('after', () => client.webhooks.retrieve(ORDER));

process.stdout.write(JSON.stringify(out, null, 2) + '\n');
