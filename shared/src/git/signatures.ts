import { createHash } from 'node:crypto';
import * as openpgp from 'openpgp';
// ssh2 is CommonJS; its `utils` is not among the named exports Node can see.
import ssh2 from 'ssh2';

// Signatures of git commits and annotated tags, verified against keys a platform team trusts: OpenPGP
// armored public keys, and SSH signing keys in OpenSSH's allowed_signers format. Pure: the caller hands
// in the raw object (what `git cat-file commit|tag` prints) and the keys; the clock is injectable, so
// key expiry and allowed_signers validity are checked at a chosen moment.
//
// What is signed: for a commit, the object without its `gpgsig` header (git's rule); for a tag, the
// object up to the signature block at the end of its message. SSH signatures are "sshsig" blobs
// (OpenSSH PROTOCOL.sshsig) over the namespace "git".

/** How a verification ended; never carries key material beyond fingerprints and user ids. */
export type SignatureVerdict =
  | { readonly ok: true; readonly format: 'pgp' | 'ssh'; readonly signer: string }
  | {
      readonly ok: false;
      readonly reason: SignatureFailure;
      readonly message: string;
    };

/** Stable reasons a signature is refused. */
export const SIGNATURE_FAILURES = ['Unsigned', 'UnknownKey', 'BadSignature', 'ExpiredKey', 'Malformed'] as const;
export type SignatureFailure = (typeof SIGNATURE_FAILURES)[number];

/**
 * The trusted keys: armored OpenPGP public keys (one armored text, or several by name, e.g. the entries
 * of a Secret, so a key that does not parse is named) and/or allowed_signers lines.
 */
export interface TrustedKeys {
  readonly pgp?: string | Readonly<Record<string, string>>;
  readonly allowedSigners?: string;
}

/** A signed object split into what was signed and the signature (undefined: unsigned). */
export interface SignedParts {
  readonly payload: string;
  readonly signature: string | undefined;
  readonly format: 'pgp' | 'ssh' | 'x509' | undefined;
}

function formatOf(signature: string): SignedParts['format'] {
  if (signature.startsWith('-----BEGIN PGP SIGNATURE-----')) return 'pgp';
  if (signature.startsWith('-----BEGIN SSH SIGNATURE-----')) return 'ssh';
  if (signature.startsWith('-----BEGIN SIGNED MESSAGE-----')) return 'x509';
  return undefined;
}

/**
 * A commit object split into its signed payload (every header but `gpgsig`, whose continuation lines
 * start with a space, and the message) and its signature.
 */
export function splitCommit(raw: string): SignedParts {
  const end = raw.indexOf('\n\n');
  const headers = (end === -1 ? raw : raw.slice(0, end)).split('\n');
  const rest = end === -1 ? '' : raw.slice(end);
  const kept: string[] = [];
  const sig: string[] = [];
  let inSig = false;
  for (const line of headers) {
    if (line.startsWith('gpgsig ')) {
      inSig = true;
      sig.push(line.slice('gpgsig '.length));
    } else if (inSig && line.startsWith(' ')) {
      sig.push(line.slice(1));
    } else {
      inSig = false;
      kept.push(line);
    }
  }
  const signature = sig.length === 0 ? undefined : `${sig.join('\n')}\n`;
  return {
    payload: `${kept.join('\n')}${rest}`,
    signature,
    format: signature === undefined ? undefined : formatOf(signature),
  };
}

/** An annotated tag object split at the signature block that ends its message. */
export function splitTag(raw: string): SignedParts {
  for (const marker of [
    '-----BEGIN PGP SIGNATURE-----',
    '-----BEGIN SSH SIGNATURE-----',
    '-----BEGIN SIGNED MESSAGE-----',
  ]) {
    const at = raw.lastIndexOf(`\n${marker}`);
    if (at !== -1) {
      const signature = raw.slice(at + 1);
      return { payload: raw.slice(0, at + 1), signature, format: formatOf(signature) };
    }
  }
  return { payload: raw, signature: undefined, format: undefined };
}

/** Verifies the parts of a commit or tag against the trusted keys at time `now`. */
export async function verifySigned(
  parts: SignedParts,
  keys: TrustedKeys,
  now: Date = new Date(),
): Promise<SignatureVerdict> {
  if (parts.signature === undefined) return { ok: false, reason: 'Unsigned', message: 'not signed' };
  if (parts.format === 'ssh') return verifySsh(parts.payload, parts.signature, keys.allowedSigners ?? '', now);
  if (parts.format === 'pgp') return verifyPgp(parts.payload, parts.signature, keys.pgp, now);
  return {
    ok: false,
    reason: 'Malformed',
    message:
      parts.format === 'x509' ? 'signed with an X.509 certificate, which is not supported' : 'unrecognised signature',
  };
}

// ------------------------------------------------------------------------------------------------ SSH

class Reader {
  #at = 0;
  readonly buf: Buffer;
  constructor(buf: Buffer) {
    this.buf = buf;
  }
  string(): Buffer {
    if (this.#at + 4 > this.buf.length) throw new Error('truncated');
    const n = this.buf.readUInt32BE(this.#at);
    this.#at += 4;
    if (this.#at + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  uint32(): number {
    if (this.#at + 4 > this.buf.length) throw new Error('truncated');
    const v = this.buf.readUInt32BE(this.#at);
    this.#at += 4;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.#at + n > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.#at, this.#at + n);
    this.#at += n;
    return out;
  }
  get done(): boolean {
    return this.#at === this.buf.length;
  }
}

const sshString = (b: Buffer | string) => {
  const data = typeof b === 'string' ? Buffer.from(b) : b;
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  return Buffer.concat([len, data]);
};

interface AllowedSigner {
  readonly principals: string;
  readonly key: Buffer;
  readonly namespaces: readonly string[] | undefined;
  readonly validAfter: Date | undefined;
  readonly validBefore: Date | undefined;
}

// allowed_signers times: YYYYMMDD[HHMM[SS]], UTC with a trailing Z, else local time (taken as UTC here).
function signerTime(value: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(?:(\d{2})(\d{2})(\d{2})?)?Z?$/.exec(value);
  if (m === null) return undefined;
  const [, y, mo, d, h = '00', mi = '00', s = '00'] = m;
  const date = new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
  // Date rolls 31 February over into March: a date that does not exist is not a bound.
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}`;
  return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(iso) ? date : undefined;
}

/** Parses allowed_signers text (OpenSSH ssh-keygen(1) ALLOWED SIGNERS); lines that do not parse are skipped. */
export function parseAllowedSigners(text: string): AllowedSigner[] {
  const out: AllowedSigner[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    // principals [options] keytype base64 [comment]; options may hold quoted commas and spaces.
    const tokens = line.match(/(?:[^\s"]+|"[^"]*")+/g) ?? [];
    const keyAt = tokens.findIndex((tok, i) => i > 0 && /^(ssh-|ecdsa-sha2-|sk-)/.test(tok));
    if (keyAt < 1 || tokens[keyAt + 1] === undefined) continue;
    const options = tokens.slice(1, keyAt).join(' ');
    const option = (name: string) => new RegExp(`(?:^|,)${name}="?([^",]*)"?`).exec(options)?.[1];
    const namespaces = /(?:^|,)namespaces="([^"]*)"/.exec(options)?.[1];
    let key: Buffer;
    try {
      key = Buffer.from(tokens[keyAt + 1] as string, 'base64');
    } catch {
      continue;
    }
    const after = option('valid-after');
    const before = option('valid-before');
    const validAfter = after === undefined ? undefined : signerTime(after);
    const validBefore = before === undefined ? undefined : signerTime(before);
    // A validity bound that does not parse must not widen trust to "always": the line is not used.
    if ((after !== undefined && validAfter === undefined) || (before !== undefined && validBefore === undefined))
      continue;
    out.push({
      principals: tokens[0] as string,
      key,
      namespaces: namespaces?.split(',').map((n) => n.trim()),
      validAfter,
      validBefore,
    });
  }
  return out;
}

function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

function verifySsh(payload: string, armored: string, allowedSigners: string, now: Date): SignatureVerdict {
  const body = armored
    .replace('-----BEGIN SSH SIGNATURE-----', '')
    .replace('-----END SSH SIGNATURE-----', '')
    .replace(/\s+/g, '');
  let publicKey: Buffer;
  let namespace: string;
  let reserved: Buffer;
  let hashAlg: string;
  let sigFormat: string;
  let sigBytes: Buffer;
  try {
    const r = new Reader(Buffer.from(body, 'base64'));
    if (r.bytes(6).toString() !== 'SSHSIG') throw new Error('not an sshsig blob');
    if (r.uint32() !== 1) throw new Error('unknown sshsig version');
    publicKey = r.string();
    namespace = r.string().toString();
    reserved = r.string();
    hashAlg = r.string().toString();
    const sig = new Reader(r.string());
    sigFormat = sig.string().toString();
    sigBytes = sig.string();
    if (!r.done) throw new Error('trailing bytes');
  } catch (err: unknown) {
    return { ok: false, reason: 'Malformed', message: `SSH signature does not parse: ${(err as Error).message}` };
  }
  if (namespace !== 'git')
    return { ok: false, reason: 'BadSignature', message: `SSH signature for namespace "${namespace}", not "git"` };
  if (hashAlg !== 'sha256' && hashAlg !== 'sha512') {
    return { ok: false, reason: 'Malformed', message: `SSH signature hash ${hashAlg} is not supported` };
  }
  const fingerprint = sshFingerprint(publicKey);
  const signers = parseAllowedSigners(allowedSigners).filter(
    (s) => s.key.equals(publicKey) && (s.namespaces === undefined || s.namespaces.includes('git')),
  );
  if (signers.length === 0)
    return { ok: false, reason: 'UnknownKey', message: `signed by SSH key ${fingerprint}, which is not trusted` };
  const valid = signers.find(
    (s) => (s.validAfter === undefined || now >= s.validAfter) && (s.validBefore === undefined || now < s.validBefore),
  );
  if (valid === undefined) {
    return {
      ok: false,
      reason: 'ExpiredKey',
      message: `SSH key ${fingerprint} is trusted only outside ${now.toISOString()} (valid-after/valid-before)`,
    };
  }
  const parsed = ssh2.utils.parseKey(`${publicKeyType(publicKey)} ${publicKey.toString('base64')}`);
  if (parsed instanceof Error)
    return { ok: false, reason: 'Malformed', message: `SSH key does not parse: ${parsed.message}` };
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  const digest = createHash(hashAlg).update(payload).digest();
  const signed = Buffer.concat([
    Buffer.from('SSHSIG'),
    sshString('git'),
    sshString(reserved),
    sshString(hashAlg),
    sshString(digest),
  ]);
  const algo = sigFormat === 'rsa-sha2-512' ? 'sha512' : sigFormat === 'rsa-sha2-256' ? 'sha256' : undefined;
  let signatureBytes: Buffer;
  try {
    signatureBytes = sigFormat.startsWith('ecdsa-sha2-') ? ecdsaDer(sigBytes) : sigBytes;
  } catch (err: unknown) {
    return { ok: false, reason: 'Malformed', message: `SSH signature does not parse: ${(err as Error).message}` };
  }
  const ok = key !== undefined && key.verify(signed, signatureBytes, algo) === true;
  return ok
    ? { ok: true, format: 'ssh', signer: `${valid.principals} (${fingerprint})` }
    : { ok: false, reason: 'BadSignature', message: `SSH signature by ${fingerprint} does not match the content` };
}

// An SSH ECDSA signature is two mpints (r, s); the verifier takes DER: SEQUENCE { INTEGER r, INTEGER s }.
function ecdsaDer(blob: Buffer): Buffer {
  const r = new Reader(blob);
  const ints = [r.string(), r.string()].map((v) => {
    let x = v;
    while (x.length > 1 && x[0] === 0 && ((x[1] ?? 0) & 0x80) === 0) x = x.subarray(1);
    if (((x[0] ?? 0) & 0x80) !== 0) x = Buffer.concat([Buffer.from([0]), x]);
    return Buffer.concat([Buffer.from([0x02, x.length]), x]);
  });
  const body = Buffer.concat(ints);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function publicKeyType(key: Buffer): string {
  return new Reader(key).string().toString();
}

// ------------------------------------------------------------------------------------------------ PGP

async function verifyPgp(
  payload: string,
  armored: string,
  trusted: TrustedKeys['pgp'],
  now: Date,
): Promise<SignatureVerdict> {
  const keys: openpgp.Key[] = [];
  let signature: openpgp.Signature;
  const named = typeof trusted === 'string' || trusted === undefined ? { keys: trusted ?? '' } : trusted;
  for (const [name, armoredKeys] of Object.entries(named)) {
    if (armoredKeys.trim() === '') continue;
    try {
      keys.push(...(await openpgp.readKeys({ armoredKeys })));
    } catch (err: unknown) {
      return {
        ok: false,
        reason: 'Malformed',
        message: `trusted OpenPGP ${name === 'keys' && typeof trusted !== 'object' ? 'keys do' : `key ${name} does`} not parse: ${(err as Error).message}`,
      };
    }
  }
  try {
    signature = await openpgp.readSignature({ armoredSignature: armored });
  } catch (err: unknown) {
    return { ok: false, reason: 'Malformed', message: `OpenPGP signature does not parse: ${(err as Error).message}` };
  }
  const issuers = signature.getSigningKeyIDs().map((id) => id.toHex());
  const key = keys.find((k) => k.getKeys().some((sub) => issuers.includes(sub.getKeyID().toHex())));
  if (key === undefined) {
    return {
      ok: false,
      reason: 'UnknownKey',
      message: `signed by OpenPGP key ${issuers.join(', ') || '(no issuer)'}, which is not trusted`,
    };
  }
  const result = await openpgp.verify({
    message: await openpgp.createMessage({ binary: Buffer.from(payload) }),
    signature,
    verificationKeys: key,
    date: now,
    format: 'binary',
  });
  const first = result.signatures[0];
  const fpr = key.getFingerprint().toUpperCase();
  if (first === undefined) return { ok: false, reason: 'Malformed', message: 'OpenPGP signature holds no signature' };
  // openpgp's errors carry no code: whether a key's validity is the problem is decided from the key's
  // own dates, and any failure is a refusal either way.
  const expiry = await key.getExpirationTime();
  const created = signature.packets[0]?.created;
  const invalidAt = (at: Date) =>
    (expiry instanceof Date && expiry.getTime() <= at.getTime()) || key.getCreationTime().getTime() > at.getTime();
  const expired = invalidAt(now) || (created instanceof Date && invalidAt(created));
  try {
    await first.verified;
  } catch (err: unknown) {
    return {
      ok: false,
      reason: expired ? 'ExpiredKey' : 'BadSignature',
      message: `OpenPGP signature by ${fpr} ${expired ? 'was made with a key not valid at that time' : 'does not verify'}: ${(err as Error).message}`,
    };
  }
  const user = (await key.getPrimaryUser(now).catch(() => undefined))?.user.userID?.userID ?? '';
  // A signature made before the key expired is still refused once it has expired at `now` (as git
  // verify-commit does): the key must be valid now.
  if (expired) {
    return {
      ok: false,
      reason: 'ExpiredKey',
      message:
        expiry instanceof Date
          ? `OpenPGP key ${fpr} expired on ${expiry.toISOString()}`
          : `OpenPGP key ${fpr} is not valid yet`,
    };
  }
  return { ok: true, format: 'pgp', signer: `${user} (${fpr})`.trim() };
}
