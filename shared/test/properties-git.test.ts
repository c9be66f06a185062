import { REPO_URI_PATTERN } from '@git-events-runner/shared';
import { bounded, propertySeed } from '@git-events-runner/shared/testing';
import fc from 'fast-check';
import t from 'tap';
import {
  isGitError,
  type KnownHostEntry,
  knownHostsName,
  parseKnownHosts,
  parseRepoUri,
  verifyHostKey,
} from '../src/git/index.js';
import { FLUSH, MAX_PKT_PAYLOAD, type Packet, PktLineTooLong, PktReader, pktLine } from '../src/git/pkt-line.js';

// Hostile input for the pure git parsers (issue 9): repository URIs, known_hosts text and pkt-line streams.
// Each input is accepted with a well-formed result or refused with a plain Error that says what is wrong;
// nothing throws a stray TypeError/URIError and nothing takes long. Repository URIs and known_hosts come
// from tenants' GitRepos and Secrets, and pkt-lines from any git server they point at.

// A fixed seed keeps CI deterministic; FC_SEED explores others. fast-check prints seed and path on failure.
// Hangs are caught per call (budgets below); the overall limit only shortens a run on a very busy machine.
const { seed: SEED, runs } = propertySeed(0x617);
t.comment(`fast-check seed ${SEED} (set FC_SEED to replay another)`);

// Each call has a time budget (bounded(), @git-events-runner/shared/testing).

// ------------------------------------------------------------------------------------------ repository URIs

const hostChars = fc.stringMatching(/^[A-Za-z0-9_.-]{1,30}$/);
const pathChars = fc.stringMatching(/^[/A-Za-z0-9_.-]{0,40}$/);
// Percent signs are what the https branch of the CRD pattern allows beyond plain characters.
const httpPathChars = fc.stringMatching(/^[/%&=?A-Za-z0-9_.-]{0,40}$/);
const port = fc.oneof(fc.integer({ min: 0, max: 99_999 }).map(String), fc.constantFrom('', '0', '00022', '65535'));
const withPort = (p: string) => (p === '' ? '' : `:${p}`);

// URIs of the shapes the CRD admits (REPO_URI_PATTERN), so every one must parse or be refused clearly.
const crdShapedUri = fc.oneof(
  fc
    .tuple(
      hostChars,
      hostChars,
      pathChars.filter((p) => p !== '' && p[0] !== '/'),
    )
    .map(([h, a, b]) => `git@${h}:${a}/${b}`),
  fc
    .tuple(fc.option(hostChars, { nil: undefined }), hostChars, port, pathChars)
    .map(
      ([u, h, p, path]) => `ssh://${u === undefined ? '' : `${u}@`}${h}${withPort(p)}${path === '' ? '' : `/${path}`}`,
    ),
  fc
    .tuple(hostChars, port, pathChars)
    .map(([h, p, path]) => `git://${h}${withPort(p)}${path === '' ? '' : `/${path}`}`),
  fc
    .tuple(fc.constantFrom('http', 'https'), hostChars, port, httpPathChars)
    .map(([s, h, p, path]) => `${s}://${h}${withPort(p)}${path === '' ? '' : `/${path}`}`),
);

// Anything a user might type, and things an attacker would.
const hostileUri = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc.string({ maxLength: 60 }),
  fc.string({ unit: 'binary', maxLength: 60 }),
  fc
    .tuple(
      fc.constantFrom('https://', 'http://', 'ssh://', 'git://', 'ftp://', 'file://', 'HTTPS://', '', 'git@', '//'),
      fc.string({
        unit: fc.constantFrom('a', '@', ':', '/', '%', '[', ']', '.', '1', 'f', 'F', '0', ' ', '\\', '#', '?'),
        maxLength: 30,
      }),
    )
    .map(([scheme, rest]) => `${scheme}${rest}`),
);

const SCHEMES = ['https', 'http', 'ssh', 'git'];

function checkParsed(uri: string): boolean {
  const outcome = bounded(`parseRepoUri(${JSON.stringify(uri)})`, () => parseRepoUri(uri));
  if (outcome.ok) {
    const p = outcome.value;
    return (
      SCHEMES.includes(p.scheme) &&
      typeof p.host === 'string' &&
      p.host !== '' &&
      Number.isInteger(p.port) &&
      p.port >= 1 &&
      p.port <= 65_535 &&
      p.user !== '' &&
      typeof p.path === 'string'
    );
  }
  const { error } = outcome;
  // A GitError Config whose message names the URI: not a URIError or TypeError.
  if (!isGitError(error) || error.code !== 'Config') {
    throw new Error(`parseRepoUri(${JSON.stringify(uri)}) threw ${String(error)}`, { cause: error });
  }
  return error.message.startsWith(`${uri}: `) && error.repository === uri;
}

t.test('parseRepoUri: URIs the CRD admits parse, or are refused with an error naming them', async (t) => {
  const crd = new RegExp(REPO_URI_PATTERN);
  let accepted = 0;
  await fc.assert(
    fc.property(crdShapedUri, (uri) => {
      if (!crd.test(uri)) throw new Error(`generator bug: ${uri} does not match the CRD pattern`);
      if (checkParsed(uri)) {
        accepted++;
        return true;
      }
      return false;
    }),
    runs(3000),
  );
  t.ok(accepted > 1000, `most CRD-shaped URIs are usable (${accepted})`);
});

t.test('parseRepoUri: random and hostile strings never crash', async (t) => {
  await fc.assert(fc.property(hostileUri, checkParsed), runs(4000));
  t.pass('no crash, every refusal clear');
});

t.test('parseRepoUri: what is written is what is parsed', async (t) => {
  await fc.assert(
    fc.property(
      fc.stringMatching(/^[A-Za-z0-9_-]{1,12}$/),
      // Lower-case names with a letter first: the URL parser lower-cases hosts and reads numbers as IPv4.
      fc.stringMatching(/^[a-z]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z]{2,6}){0,2}$/),
      fc.integer({ min: 1, max: 65_535 }),
      // No `.`/`..` segments, which URLs resolve away.
      fc.stringMatching(/^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,19}(\/[A-Za-z0-9_-][A-Za-z0-9_.-]{0,19}){0,3}$/),
      (user, host, portNumber, path) => {
        const scp = parseRepoUri(`${user}@${host}:${path}`);
        const ssh = parseRepoUri(`ssh://${user}@${host}:${portNumber}/${path}`);
        const https = parseRepoUri(`https://${host}:${portNumber}/${path}`);
        return (
          scp.scheme === 'ssh' &&
          scp.host === host &&
          scp.user === user &&
          scp.port === 22 &&
          scp.path === path &&
          ssh.host === host &&
          ssh.user === user &&
          ssh.port === portNumber &&
          ssh.path === `/${path}` &&
          https.scheme === 'https' &&
          https.port === portNumber &&
          https.path === `/${path}` &&
          https.user === 'git'
        );
      },
    ),
    runs(1000),
  );
  t.pass('round trip');
});

// ------------------------------------------------------------------------------------------ known_hosts

const b64 = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((a) => Buffer.from(a).toString('base64'));
const keyType = fc.constantFrom('ssh-ed25519', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'sk-ssh-ed25519@openssh.com');
// Host patterns: names, globs with many wildcards, negations, regex metacharacters, hashed names.
const globAtom = fc.constantFrom('*', '?', 'a', 'b', '.', '-', '1', '[', ']', '(', ')', '+', '^', '$', '|', '\\', '{');
const hostPattern = fc.oneof(
  hostChars,
  fc.string({ unit: globAtom, minLength: 1, maxLength: 40 }),
  fc.integer({ min: 1, max: 30 }).map((n) => `${'*a'.repeat(n)}*b`),
  fc.tuple(fc.constantFrom('', '!'), hostChars).map(([neg, h]) => `${neg}${h}`),
  fc.tuple(b64, b64).map(([salt, hash]) => `|1|${salt}|${hash}`),
  fc.tuple(hostChars, fc.integer({ min: 1, max: 65_535 })).map(([h, p]) => knownHostsName(h, p)),
);
const hostPatterns = fc.array(hostPattern, { minLength: 1, maxLength: 4 }).map((p) => p.join(','));
const knownHostLine = fc
  .record({
    marker: fc.constantFrom(undefined, 'revoked', 'cert-authority'),
    hosts: hostPatterns.filter((h) => !/\s/.test(h) && !h.startsWith('#') && !h.startsWith('@')),
    keyType,
    key: b64,
    comment: fc.constantFrom('', ' user@host', ' a comment with spaces'),
  })
  .map((e) => ({
    entry: e,
    line: `${e.marker === undefined ? '' : `@${e.marker} `}${e.hosts} ${e.keyType} ${e.key}${e.comment}`,
  }));

t.test('known_hosts: random text never throws; well-formed lines round-trip', async (t) => {
  await fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 300 })), (text) => {
      const outcome = bounded('parseKnownHosts', () => parseKnownHosts(text));
      if (!outcome.ok) throw outcome.error;
      return outcome.value.every(
        (e) => e.hosts !== '' && !/\s/.test(e.hosts) && e.keyType !== '' && Buffer.isBuffer(e.key),
      );
    }),
    runs(2000),
  );
  await fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          { weight: 4, arbitrary: knownHostLine },
          {
            weight: 1,
            arbitrary: fc
              .constantFrom('', '   ', '# comment', '#', 'broken line', '@revoked onlyhost')
              .map((line) => ({ entry: undefined, line })),
          },
        ),
        { maxLength: 10 },
      ),
      fc.constantFrom('\n', '\r\n'),
      (lines, eol) => {
        const parsed = parseKnownHosts(lines.map((l) => l.line).join(eol));
        const expected = lines.flatMap((l) => (l.entry === undefined ? [] : [l.entry]));
        return (
          parsed.length === expected.length &&
          parsed.every(
            (p, i) =>
              p.marker === expected[i]?.marker &&
              p.hosts === expected[i]?.hosts &&
              p.keyType === expected[i]?.keyType &&
              p.key.equals(Buffer.from(expected[i]?.key ?? '', 'base64')),
          )
        );
      },
    ),
    runs(1000),
  );
  t.pass('parse is total and faithful');
});

// What OpenSSH's match_pattern means (`*` any run, `?` one character, case-insensitive), written as the
// obvious memoised recursion: a reference for the matcher under test, not a fast one.
function globReference(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const s = name.toLowerCase();
  const memo = new Map<number, boolean>();
  const at = (i: number, j: number): boolean => {
    const key = i * (s.length + 1) + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === p.length) result = j === s.length;
    else if (p[i] === '*') result = at(i + 1, j) || (j < s.length && at(i, j + 1));
    else result = j < s.length && (p[i] === '?' || p[i] === s[j]) && at(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return at(0, 0);
}

function referenceVerdict(entries: readonly KnownHostEntry[], host: string, port: number, key: Buffer): string {
  const name = knownHostsName(host, port);
  const matches = (hosts: string): boolean => {
    if (hosts.startsWith('|1|')) return false;
    let matched = false;
    for (const pattern of hosts.split(',')) {
      const negated = pattern.startsWith('!');
      if (globReference(negated ? pattern.slice(1) : pattern, name)) {
        if (negated) return false;
        matched = true;
      }
    }
    return matched;
  };
  const forHost = entries.filter((e) => matches(e.hosts));
  if (forHost.some((e) => e.marker === 'revoked' && e.key.equals(key))) return 'revoked';
  const plain = forHost.filter((e) => e.marker === undefined);
  if (plain.some((e) => e.key.equals(key))) return 'trusted';
  return plain.length === 0 ? 'unknown' : 'mismatch';
}

t.test('known_hosts: host matching is total, fast on hostile globs, and means what OpenSSH means', async (t) => {
  const verdicts = new Map<string, number>();
  await fc.assert(
    fc.property(
      fc.array(knownHostLine, { minLength: 1, maxLength: 4 }),
      fc.oneof(hostChars, fc.stringMatching(/^[ab.]{0,60}$/), fc.constant('a'.repeat(200))),
      fc.constantFrom(22, 2222),
      // A line about the host itself, so that matches, mismatches and negations are reached, not only misses.
      fc.record({
        marker: fc.constantFrom('', '@revoked ', '@cert-authority '),
        negate: fc.boolean(),
        wildcards: fc.array(fc.tuple(fc.nat(), fc.constantFrom('*', '?')), { maxLength: 3 }),
        include: fc.boolean(),
      }),
      fc.boolean(),
      (lines, host, portNumber, own, sameKey) => {
        let name = knownHostsName(host, portNumber);
        for (const [at, wildcard] of own.wildcards) {
          const i = name.length === 0 ? 0 : at % name.length;
          name = `${name.slice(0, i)}${wildcard}${name.slice(i + 1)}`;
        }
        const ownLine =
          own.include && name !== '' ? [`${own.marker}${own.negate ? `${name},!` : ''}${name} ssh-ed25519 AAAA`] : [];
        const entries = parseKnownHosts([...ownLine, ...lines.map((l) => l.line)].join('\n'));
        const first = entries[0];
        const key = sameKey && first !== undefined ? first.key : Buffer.from('not a key');
        const outcome = bounded(`verifyHostKey(${JSON.stringify(lines.map((l) => l.line))}, ${host})`, () =>
          verifyHostKey(entries, host, portNumber, key),
        );
        if (!outcome.ok) throw outcome.error;
        verdicts.set(outcome.value, (verdicts.get(outcome.value) ?? 0) + 1);
        // Hashed names are checked by their own test; skip them in the comparison.
        if (entries.some((e) => e.hosts.split(',').some((h) => h.startsWith('|1|')))) return true;
        return outcome.value === referenceVerdict(entries, host, portNumber, key);
      },
    ),
    runs(2000),
  );
  t.ok(verdicts.size >= 3, `several verdicts are reached: ${JSON.stringify([...verdicts])}`);
  // The worst case of a backtracking matcher, asserted on its own so a regression is named plainly.
  const evil = parseKnownHosts(`${'*a'.repeat(30)}*b ssh-ed25519 AAAA`);
  const outcome = bounded('verifyHostKey on *a*a…*b', () =>
    verifyHostKey(evil, 'a'.repeat(2048), 22, Buffer.from('x')),
  );
  t.same(outcome, { ok: true, value: 'unknown' }, 'a glob of 30 wildcards against a 2048-character name is quick');
});

// ------------------------------------------------------------------------------------------ pkt-line

async function* chunked(bytes: Buffer, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const to = Math.min(cut, bytes.length);
    if (to > from) {
      yield bytes.subarray(from, to);
      from = to;
    }
  }
  if (from < bytes.length) yield bytes.subarray(from);
}

// Reads a whole stream; a time limit on the whole read catches a reader that spins or waits forever.
async function readAll(reader: PktReader): Promise<{ packets: Packet[]; error?: unknown }> {
  const packets: Packet[] = [];
  const work = (async () => {
    for (let i = 0; i < 100_000; i++) {
      const next = await reader.read();
      if (next === undefined) return;
      packets.push(next.packet);
    }
    throw new Error('reader never ended');
  })();
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('reading took more than 2 s')), 2000);
  });
  try {
    await Promise.race([work, limit]);
    return { packets };
  } catch (error: unknown) {
    if (error instanceof Error && /^reading took|^reader never/.test(error.message)) throw error;
    return { packets, error };
  } finally {
    clearTimeout(timer);
  }
}

t.test('pkt-line: random bytes give packets or a clear error, never a hang', async (t) => {
  const errors = new Set<string>();
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.uint8Array({ maxLength: 600 }),
        // Mostly plausible headers followed by random bytes, so deeper states are reached.
        fc
          .array(
            fc.tuple(
              fc.oneof(
                fc.stringMatching(/^[0-9a-fA-F]{4}$/),
                fc.constantFrom('0000', '0001', '0002', '0003', '0004', 'ffff', '000g', '-001', ' 0x1'),
              ),
              fc.uint8Array({ maxLength: 40 }),
            ),
            { maxLength: 8 },
          )
          .map(
            (parts) =>
              new Uint8Array(Buffer.concat(parts.flatMap(([h, b]) => [Buffer.from(h, 'latin1'), Buffer.from(b)]))),
          ),
      ),
      fc.array(fc.nat({ max: 700 }), { maxLength: 10 }),
      async (bytes, cuts) => {
        const { packets, error } = await readAll(new PktReader(chunked(Buffer.from(bytes), cuts)));
        if (error === undefined) return packets.every((p) => p.kind !== 'data' || Buffer.isBuffer(p.payload));
        if (!(error instanceof Error) || error.name !== 'Error') throw error;
        errors.add(error.message.replace(/".*"|[0-9a-f]{4}$/i, '…'));
        return /pkt-line/.test(error.message);
      },
    ),
    runs(2000),
  );
  t.ok(errors.size >= 2, `refusals seen: ${[...errors].join(' | ')}`);
});

t.test('pkt-line: encoded packets read back exactly, whatever the chunking, and the rest is untouched', async (t) => {
  const packet = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.uint8Array({ maxLength: 300 }).map((p): Packet => ({ kind: 'data', payload: Buffer.from(p) })),
    },
    { weight: 1, arbitrary: fc.constant<Packet>({ kind: 'data', payload: Buffer.alloc(65_516, 0x61) }) },
    { weight: 2, arbitrary: fc.constantFrom<Packet>({ kind: 'flush' }, { kind: 'delim' }, { kind: 'response-end' }) },
  );
  const encode = (p: Packet): Buffer =>
    p.kind === 'data'
      ? pktLine(p.payload)
      : p.kind === 'flush'
        ? FLUSH
        : Buffer.from(p.kind === 'delim' ? '0001' : '0002', 'ascii');
  await fc.assert(
    fc.asyncProperty(
      fc.array(packet, { maxLength: 8 }),
      fc.uint8Array({ maxLength: 200 }),
      fc.array(fc.nat({ max: 70_000 }), { maxLength: 12 }),
      async (packets, trailer, cuts) => {
        const stream = Buffer.concat([...packets.map(encode), FLUSH, Buffer.from(trailer)]);
        const reader = new PktReader(chunked(stream, cuts));
        for (const expected of [...packets, { kind: 'flush' } as Packet]) {
          const next = await reader.read();
          if (next === undefined || next.packet.kind !== expected.kind) return false;
          if (
            next.packet.kind === 'data' &&
            expected.kind === 'data' &&
            !next.packet.payload.equals(expected.payload)
          ) {
            return false;
          }
          if (!next.raw.equals(encode(expected))) return false;
        }
        const rest: Uint8Array[] = [];
        for await (const chunk of reader.rest()) rest.push(chunk);
        return Buffer.concat(rest).equals(Buffer.from(trailer));
      },
    ),
    runs(500),
  );
  t.pass('round trip');
});

t.test('pkt-line: the encoder takes what one packet holds and refuses the rest', async (t) => {
  await fc.assert(
    fc.property(fc.integer({ min: 0, max: 2 * MAX_PKT_PAYLOAD }), (length) => {
      let encoded: Buffer | undefined;
      try {
        encoded = pktLine(Buffer.alloc(length, 0x62));
      } catch (err: unknown) {
        return length > MAX_PKT_PAYLOAD && err instanceof PktLineTooLong && err.bytes === length;
      }
      return (
        length <= MAX_PKT_PAYLOAD &&
        Number.parseInt(encoded.subarray(0, 4).toString('ascii'), 16) === length + 4 &&
        encoded.length === length + 4
      );
    }),
    runs(300),
  );
  t.pass('encoded exactly up to the limit, refused beyond it');
});
