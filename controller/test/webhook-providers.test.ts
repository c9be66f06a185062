import { createHmac } from 'node:crypto';
import t from 'tap';
import { eventHint, safeEqual, verifyRequest } from '../src/webhooks/providers.js';

const SECRET = 'hmac-secret-1';
const body = Buffer.from(JSON.stringify({ ref: 'refs/heads/main', after: 'abc' }));
const hex = (b: Buffer, secret = SECRET) => createHmac('sha256', secret).update(b).digest('hex');

t.test('GitHub: X-Hub-Signature-256 over the raw body; SHA-1 never accepted', async (t) => {
  t.equal(await verifyRequest('github', SECRET, { 'x-hub-signature-256': `sha256=${hex(body)}` }, body), 'ok');
  t.equal(
    await verifyRequest('github', SECRET, { 'x-hub-signature-256': `sha256=${hex(body, 'other')}` }, body),
    'bad',
  );
  t.equal(
    await verifyRequest('github', SECRET, { 'x-hub-signature-256': `sha256=${hex(Buffer.from('x'))}` }, body),
    'bad',
    'another body',
  );
  t.equal(
    await verifyRequest(
      'github',
      SECRET,
      { 'x-hub-signature': `sha1=${createHmac('sha1', SECRET).update(body).digest('hex')}` },
      body,
    ),
    'missing',
    'SHA-1 alone is no proof',
  );
  t.equal(await verifyRequest('github', SECRET, { 'x-hub-signature-256': 'sha1=abc' }, body), 'bad');
  t.equal(await verifyRequest('github', SECRET, {}, body), 'missing');
});

t.test('GitLab token, Gitea and Bitbucket Server signatures', async (t) => {
  t.equal(await verifyRequest('gitlab', SECRET, { 'x-gitlab-token': SECRET }, body), 'ok');
  t.equal(await verifyRequest('gitlab', SECRET, { 'x-gitlab-token': 'nope' }, body), 'bad');
  t.equal(await verifyRequest('gitlab', SECRET, {}, body), 'missing');
  t.equal(await verifyRequest('gitea', SECRET, { 'x-gitea-signature': hex(body) }, body), 'ok');
  t.equal(await verifyRequest('gitea', SECRET, { 'x-forgejo-signature': hex(body) }, body), 'ok');
  t.equal(await verifyRequest('gitea', SECRET, { 'x-gitea-signature': hex(body, 'x') }, body), 'bad');
  t.equal(await verifyRequest('bitbucket', SECRET, { 'x-hub-signature': `sha256=${hex(body)}` }, body), 'ok');
  t.equal(await verifyRequest('bitbucket', SECRET, { 'x-hub-signature': `sha1=${hex(body)}` }, body), 'bad');
  t.equal(await verifyRequest('bitbucket', SECRET, {}, body), 'missing');
});

t.test('event hints: kind, refs and delivery ids per provider', async (t) => {
  t.same(eventHint('github', { 'x-github-event': 'push', 'x-github-delivery': 'd1' }, body), {
    kind: 'push',
    refs: ['refs/heads/main'],
    deliveryId: 'd1',
  });
  t.same(eventHint('github', { 'x-github-event': 'ping' }, Buffer.from('{}')), {
    kind: 'ping',
    refs: [],
    deliveryId: undefined,
  });
  t.equal(eventHint('github', { 'x-github-event': 'issues' }, body).kind, 'other');
  t.same(
    eventHint(
      'gitlab',
      { 'x-gitlab-event': 'Tag Push Hook', 'x-gitlab-event-uuid': 'u' },
      Buffer.from('{"ref":"refs/tags/v1"}'),
    ),
    { kind: 'push', refs: ['refs/tags/v1'], deliveryId: 'u' },
  );
  t.same(eventHint('gitea', { 'x-gitea-event': 'push', 'x-gitea-delivery': 'g' }, body), {
    kind: 'push',
    refs: ['refs/heads/main'],
    deliveryId: 'g',
  });
  const bb = Buffer.from(
    JSON.stringify({ changes: [{ ref: { id: 'refs/heads/dev' } }, { ref: { id: 'refs/heads/main' } }] }),
  );
  t.same(eventHint('bitbucket', { 'x-event-key': 'repo:refs_changed', 'x-request-id': 'b' }, bb), {
    kind: 'push',
    refs: ['refs/heads/dev', 'refs/heads/main'],
    deliveryId: 'b',
  });
  t.equal(eventHint('bitbucket', { 'x-event-key': 'diagnostics:ping' }, Buffer.from('{}')).kind, 'ping');
  t.same(
    eventHint('github', { 'x-github-event': 'push' }, Buffer.from('not json')),
    { kind: 'push', refs: [], deliveryId: undefined },
    'an unreadable payload gives no hint',
  );
  t.same(
    eventHint('token', {}, body),
    { kind: 'push', refs: [], deliveryId: undefined },
    'plain tokens carry no hints',
  );
});

t.test('safeEqual', async (t) => {
  t.ok(safeEqual('abc', 'abc'));
  t.notOk(safeEqual('abc', 'abd'));
  t.notOk(safeEqual('abc', 'abcd'));
  t.notOk(safeEqual('', 'a'));
});
