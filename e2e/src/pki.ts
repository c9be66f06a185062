// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const ALG = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 24 * 3600 * 1000;

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  readonly cert: string;
  readonly key: string;
}

/** A certificate authority able to sign leaf certificates. */
export interface CertificateAuthority extends KeyPair {
  /** Signs a client certificate: CN = user name, O = groups (how kube-apiserver reads them). */
  client(user: string, groups?: readonly string[]): Promise<KeyPair>;
  /** Signs a serving certificate for the given DNS names and IP addresses. */
  server(commonName: string, dnsNames: readonly string[], ips: readonly string[]): Promise<KeyPair>;
}

function provider(): void {
  // @peculiar/x509 needs a WebCrypto implementation; Node's is complete.
  // Node's webcrypto is typed apart from the DOM's Crypto that the library declares; they are the same API.
  x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
}

async function pemKey(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
}

function serial(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(12)))
    .toString('hex')
    .replace(/^[89a-f]/, '1');
}

/** Loads a CA from PEM (e.g. written by an earlier process) to sign more certificates. */
export async function loadCertificateAuthority(pair: KeyPair): Promise<CertificateAuthority> {
  provider();
  const caCert = new x509.X509Certificate(pair.cert);
  const der = x509.PemConverter.decodeFirst(pair.key);
  const signingKey = await webcrypto.subtle.importKey('pkcs8', new Uint8Array(der), ALG, true, ['sign']);
  return authority(caCert, signingKey, pair.key);
}

/** Creates a new self-signed CA valid for 30 days. */
export async function createCertificateAuthority(name: string): Promise<CertificateAuthority> {
  provider();
  const keys = await newKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: [{ CN: [name] }],
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 30 * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return authority(cert, keys.privateKey, await pemKey(keys.privateKey));
}

function authority(caCert: x509.X509Certificate, signingKey: CryptoKey, caKeyPem: string): CertificateAuthority {
  async function leaf(name: x509.JsonName, extensions: x509.Extension[]): Promise<KeyPair> {
    const keys = await newKeys();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: name,
      issuer: caCert.subject,
      notBefore: new Date(Date.now() - DAY),
      notAfter: new Date(Date.now() + 30 * DAY),
      signingAlgorithm: ALG,
      publicKey: keys.publicKey,
      signingKey,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        await x509.AuthorityKeyIdentifierExtension.create(caCert),
        ...extensions,
      ],
    });
    return { cert: cert.toString('pem'), key: await pemKey(keys.privateKey) };
  }
  return {
    cert: caCert.toString('pem'),
    key: caKeyPem,
    client: (user, groups = []) =>
      leaf(groups.length > 0 ? [{ CN: [user] }, { O: [...groups] }] : [{ CN: [user] }], [
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      ]),
    server: (commonName, dnsNames, ips) =>
      leaf(
        [{ CN: [commonName] }],
        [
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
          new x509.SubjectAlternativeNameExtension([
            ...dnsNames.map((value) => ({ type: 'dns' as const, value })),
            ...ips.map((value) => ({ type: 'ip' as const, value })),
          ]),
        ],
      ),
  };
}

/** A key pair for signing service-account tokens: private key PKCS#8 PEM, public key SPKI PEM. */
export async function createServiceAccountKeys(): Promise<{ privateKey: string; publicKey: string }> {
  provider();
  const keys = await newKeys();
  return {
    privateKey: await pemKey(keys.privateKey),
    publicKey: x509.PemConverter.encode(await webcrypto.subtle.exportKey('spki', keys.publicKey), 'PUBLIC KEY'),
  };
}
