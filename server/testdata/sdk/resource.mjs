// Drives all ten webhook methods of the official TypeScript SDK
// (@sentdm/sentdm) against sentstub, as an application would: create,
// retrieve, update, list, listEventTypes, rotateSecret, test (to a real
// receiver this script serves), listEvents, toggleStatus and delete. It
// prints one JSON document of what it saw; server/sdk_test.go asserts on it.
import http from 'node:http';
import Sent from '@sentdm/sentdm';

// The receiver of the test delivery: it records the request as it came.
const received = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"ok":true}');
  });
});
await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
const receiverURL = `http://127.0.0.1:${receiver.address().port}/sentdm`;

const client = new Sent({ maxRetries: 0 }); // baseURL and apiKey from the environment
const out = { receiver_url: receiverURL, steps: {} };

async function step(name, promise) {
  try {
    const { data, response } = await promise.withResponse();
    out.steps[name] = { ok: true, status: response.status, sandbox: response.headers.get('x-sandbox'), body: data ?? null };
  } catch (e) {
    out.steps[name] = { ok: false, class: e?.constructor?.name, status: e?.status ?? null, message: String(e?.message ?? e), error: e?.error ?? null };
  }
  return out.steps[name];
}

const created = await step('create', client.webhooks.create({
  display_name: 'SDK hook', endpoint_url: receiverURL, event_types: ['message', 'templates'],
  event_filters: { message: ['delivered', 'failed'] }, 'Idempotency-Key': 'sdk-create-1',
}));
const id = created.body?.data?.id;
await step('create_replay', client.webhooks.create({
  display_name: 'SDK hook', endpoint_url: receiverURL, event_types: ['message', 'templates'],
  event_filters: { message: ['delivered', 'failed'] }, 'Idempotency-Key': 'sdk-create-1',
}));
await step('create_invalid', client.webhooks.create({ display_name: 'x', endpoint_url: 'ftp://nope', retry_count: 9 }));
await step('retrieve', client.webhooks.retrieve(id));
await step('update', client.webhooks.update(id, { display_name: 'SDK hook v2', retry_count: 4 }));
await step('list', client.webhooks.list({ page: 1, page_size: 2 }));
await step('list_search', client.webhooks.list({ page: 1, page_size: 10, search: 'sdk HOOK', is_active: true }));
await step('event_types', client.webhooks.listEventTypes());
await step('rotate', client.webhooks.rotateSecret(id, {}));
await step('test', client.webhooks.test(id, { event_type: 'message' }));
await step('events', client.webhooks.listEvents(id, { page: 1, page_size: 10 }));
await step('deactivate', client.webhooks.toggleStatus(id, { is_active: false }));
await step('test_inactive', client.webhooks.test(id, {}));
await step('sandbox_update', client.webhooks.update(id, { display_name: 'dry', sandbox: true }));
await step('delete', client.webhooks.delete(id));
await step('retrieve_deleted', client.webhooks.retrieve(id));
await step('delete_again', client.webhooks.delete(id));

out.received = received;
receiver.close();
process.stdout.write(JSON.stringify(out, null, 2) + '\n');
