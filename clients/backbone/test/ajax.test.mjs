// fetchAjax: the jQuery.ajax subset Backbone needs, over fetch, for Node and pages without jQuery.
// Checked against the real server: success and error callbacks with jQuery's arguments, response
// headers, query data, Backbone's emulateHTTP/emulateJSON, timeouts and network errors.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Backbone, fetchAjax, freePort, restOk, serverForTests, withTimeout } from './harness.mjs';

/** fetchAjax(settings) as a promise of `{kind, args}` for whichever callback it called. */
function call(settings) {
  return withTimeout(
    new Promise((resolve) => {
      fetchAjax({
        ...settings,
        success: (...args) => resolve({ kind: 'success', args }),
        error: (...args) => resolve({ kind: 'error', args }),
      });
    }),
    5000,
    `${settings.type ?? 'GET'} ${settings.url}`,
  );
}

describe('fetchAjax', () => {
  let server;
  serverForTests((started) => {
    server = started;
  });

  it('calls success with the parsed body, the status text and an xhr with the headers', async () => {
    const { kind, args } = await call({
      url: `${server.url}/api/todos`,
      type: 'POST',
      dataType: 'json',
      contentType: 'application/json',
      data: JSON.stringify({ title: 'over fetch' }),
      headers: { 'Live-Request-Id': 'ajax-test' },
    });
    assert.equal(kind, 'success');
    const [body, textStatus, xhr] = args;
    assert.equal(textStatus, 'success');
    assert.equal(body.title, 'over fetch');
    assert.equal(xhr.status, 201);
    assert.equal(xhr.getResponseHeader('ETag'), '"1"');
    assert.equal(xhr.getResponseHeader('location'), `/api/todos/${body.id}`);
    assert.deepEqual(xhr.responseJSON, body);
  });

  it('calls error with the xhr for a refused write, and its thenable rejects', async () => {
    const settings = {
      url: `${server.url}/api/todos`,
      type: 'POST',
      dataType: 'json',
      contentType: 'application/json',
      data: JSON.stringify({ title: '   ' }),
    };
    const { kind, args } = await call(settings);
    assert.equal(kind, 'error');
    const [xhr, textStatus] = args;
    assert.equal(textStatus, 'error');
    assert.equal(xhr.status, 422);
    assert.ok(xhr.responseJSON.error.fields.title, 'the server says which field');

    const rejected = await fetchAjax(settings).then(
      () => null,
      (error) => error,
    );
    assert.equal(rejected.status, 422);
    assert.match(rejected.message, /422/);
  });

  it('sends data of a GET as the query string', async () => {
    await restOk(server, 'POST', '/api/todos', { title: 'findable' });
    const { kind, args } = await call({ url: `${server.url}/api/todos`, dataType: 'json', data: { title: 'eq.findable' } });
    assert.equal(kind, 'success');
    assert.deepEqual(
      args[0].map((t) => t.title),
      ['findable'],
    );
  });

  it("carries Backbone's emulateHTTP and emulateJSON writes", async () => {
    const created = await restOk(server, 'POST', '/api/todos', { title: 'legacy' });
    const Todo = Backbone.Model.extend({ urlRoot: `${server.url}/api/todos` });
    const todo = new Todo(created);
    const saved = await withTimeout(
      todo.save({ title: 'legacy, saved' }, { emulateHTTP: true, emulateJSON: true }),
      5000,
      'save',
    );
    assert.equal(saved.title, 'legacy, saved');
    const stored = await restOk(server, 'GET', `/api/todos/${created.id}`);
    assert.equal(stored.title, 'legacy, saved', 'the server applied the PUT sent as a form POST');
  });

  it('reports a timeout and a refused connection as errors', async () => {
    // A /meta/connect is held by the server (2 s here): a 200 ms timeout ends it first.
    const [handshake] = await restOk(server, 'POST', '/live', [
      { channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] },
    ]);
    await restOk(server, 'POST', '/live', [
      { channel: '/meta/connect', clientId: handshake.clientId, connectionType: 'long-polling' },
    ]);
    const started = Date.now();
    const held = await call({
      url: `${server.url}/live`,
      type: 'POST',
      contentType: 'application/json',
      dataType: 'json',
      timeout: 200,
      data: JSON.stringify([{ channel: '/meta/connect', clientId: handshake.clientId, connectionType: 'long-polling' }]),
    });
    assert.equal(held.kind, 'error');
    assert.equal(held.args[1], 'timeout');
    assert.ok(Date.now() - started < 1500, 'ended by the timeout, not by the server');

    const nobody = await freePort();
    const refused = await call({ url: `http://127.0.0.1:${nobody}/api/todos`, dataType: 'json' });
    assert.equal(refused.kind, 'error');
    assert.equal(refused.args[0].status, 0);
    assert.equal(refused.args[1], 'error');
  });
});
