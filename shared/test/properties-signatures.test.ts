import { propertySeed } from '@git-events-runner/shared/testing';
import fc from 'fast-check';
import t from 'tap';
import { parseAllowedSigners, splitCommit, splitTag, verifySigned } from '../src/git/signatures.js';

// The parsers of spec.verify's inputs: allowed_signers lines (from a Secret anyone with write access to
// it controls) and commit/tag objects (from any git server). Properties over generated lines and
// objects: what was written is what is read back, a validity bound that does not parse never turns
// into "always valid", and hostile input neither throws nor verifies.

const { seed: SEED, runs } = propertySeed(0x5169);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

const word = fc.stringMatching(/^[a-z][a-z0-9.-]{0,11}$/);
const principal = fc.tuple(word, word).map(([a, b]) => `${a}@${b}`);
const stamp = fc
  .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true })
  .map((d) => new Date(Math.floor(d.getTime() / 1000) * 1000));
const compact = (d: Date) => d.toISOString().replace(/[-:T]/g, '').slice(0, 14);
const keyBlob = fc.uint8Array({ minLength: 16, maxLength: 64 }).map((b) => Buffer.from(b));
const signerLine = fc.record({
  principals: fc.array(principal, { minLength: 1, maxLength: 3 }).map((p) => p.join(',')),
  namespaces: fc.option(fc.array(word, { minLength: 1, maxLength: 3 }), { nil: undefined }),
  validAfter: fc.option(stamp, { nil: undefined }),
  validBefore: fc.option(stamp, { nil: undefined }),
  type: fc.constantFrom('ssh-ed25519', 'ecdsa-sha2-nistp256', 'ssh-rsa', 'sk-ssh-ed25519@openssh.com'),
  key: keyBlob,
  comment: fc.option(word, { nil: undefined }),
});
type SignerLine = typeof signerLine extends fc.Arbitrary<infer L> ? L : never;
const render = (l: SignerLine) => {
  const options = [
    ...(l.namespaces === undefined ? [] : [`namespaces="${l.namespaces.join(',')}"`]),
    ...(l.validAfter === undefined ? [] : [`valid-after="${compact(l.validAfter)}Z"`]),
    ...(l.validBefore === undefined ? [] : [`valid-before=${compact(l.validBefore)}Z`]),
  ];
  return [l.principals, ...(options.length === 0 ? [] : [options.join(',')]), l.type, l.key.toString('base64')]
    .concat(l.comment === undefined ? [] : [l.comment])
    .join(' ');
};

t.test('allowed_signers: every line written is read back, field by field, comments and blanks skipped', async (t) => {
  fc.assert(
    fc.property(
      fc.array(signerLine, { maxLength: 6 }),
      fc.array(fc.constantFrom('', '# a comment', '   '), { maxLength: 3 }),
      (lines, noise) => {
        const text = [...noise, ...lines.map(render), ...noise].join('\n');
        const parsed = parseAllowedSigners(text);
        if (parsed.length !== lines.length) return false;
        return lines.every((l, i) => {
          const p = parsed[i]!;
          return (
            p.principals === l.principals &&
            p.key.equals(l.key) &&
            JSON.stringify(p.namespaces) === JSON.stringify(l.namespaces) &&
            p.validAfter?.getTime() === l.validAfter?.getTime() &&
            p.validBefore?.getTime() === l.validBefore?.getTime()
          );
        });
      },
    ),
    runs(500),
  );
  t.pass('held');
});

t.test('allowed_signers: a validity bound that does not parse drops the line (never "always valid")', async (t) => {
  const bad = fc.oneof(
    fc.constantFrom('yesterday', '2020-01-01', '20201340', '2020010', '', '20200230x'),
    fc.stringMatching(/^[0-9]{1,7}$/),
  );
  fc.assert(
    fc.property(signerLine, bad, fc.constantFrom('valid-after', 'valid-before'), (line, value, name) => {
      const text = `${line.principals} ${name}="${value}" ${line.type} ${line.key.toString('base64')}`;
      return parseAllowedSigners(text).length === 0;
    }),
    runs(500),
  );
  t.equal(parseAllowedSigners('a@b valid-before="20200231" ssh-ed25519 AAAA').length, 0, 'February 31st');
  t.pass('held');
});

t.test('allowed_signers: arbitrary text never throws', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 400 }), (text) => Array.isArray(parseAllowedSigners(text))),
    runs(500),
  );
  t.pass('held');
});

const headerLine = fc
  .tuple(
    fc.constantFrom('tree', 'parent', 'author', 'committer', 'encoding', 'mergetag'),
    fc.stringMatching(/^[ -~]{1,30}$/),
  )
  .map(([k, v]) => `${k} ${v}`);
const sigLine = fc.stringMatching(/^[A-Za-z0-9+/=-]{0,40}$/);

t.test('commits: the payload is the object without its gpgsig header, the signature is unfolded', async (t) => {
  fc.assert(
    fc.property(
      fc.array(headerLine, { minLength: 1, maxLength: 5 }),
      fc.nat(5),
      fc.array(sigLine, { minLength: 1, maxLength: 6 }),
      fc.string({ maxLength: 80 }),
      (headers, at, sig, message) => {
        const i = Math.min(at, headers.length);
        const block = [`gpgsig ${sig[0]}`, ...sig.slice(1).map((l) => ` ${l}`)];
        const raw = `${[...headers.slice(0, i), ...block, ...headers.slice(i)].join('\n')}\n\n${message}`;
        const parts = splitCommit(raw);
        return parts.payload === `${headers.join('\n')}\n\n${message}` && parts.signature === `${sig.join('\n')}\n`;
      },
    ),
    runs(500),
  );
  fc.assert(
    fc.property(fc.array(headerLine, { maxLength: 5 }), fc.string({ maxLength: 80 }), (headers, message) => {
      const raw = `${headers.join('\n')}\n\n${message}`;
      const parts = splitCommit(raw);
      return parts.payload === raw && parts.signature === undefined;
    }),
    runs(500),
  );
  t.pass('held');
});

t.test('tags: payload and signature add up to the object; without a signature block it is unsigned', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (raw) => {
      const parts = splitTag(raw);
      return parts.payload + (parts.signature ?? '') === raw;
    }),
    runs(500),
  );
  fc.assert(
    fc.property(fc.stringMatching(/^[^-]{0,200}$/), (raw) => splitTag(raw).signature === undefined),
    runs(500),
  );
  t.pass('held');
});

t.test('hostile signatures never throw and never verify', async (t) => {
  const armoredJunk = fc
    .tuple(fc.constantFrom('PGP', 'SSH'), fc.string({ maxLength: 200 }))
    .map(([kind, body]) => `-----BEGIN ${kind} SIGNATURE-----\n${body}\n-----END ${kind} SIGNATURE-----\n`);
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(armoredJunk, fc.string({ maxLength: 200 })),
      fc.string({ maxLength: 100 }),
      async (signature, payload) => {
        const verdict = await verifySigned(
          { payload, signature, format: signature.includes('SSH') ? 'ssh' : 'pgp' },
          { allowedSigners: 'a@b ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==', pgp: '' },
        );
        return verdict.ok === false;
      },
    ),
    runs(200),
  );
  t.pass('held');
});
