/** The largest payload of one pkt-line: its four hex digits of length count themselves (65520 in all). */
export const MAX_PKT_PAYLOAD = 65516;

/** A payload that does not fit in one pkt-line (its length field would wrap and corrupt the stream). */
export class PktLineTooLong extends Error {
  override readonly name = 'PktLineTooLong';
  readonly code = 'PktLineTooLong' as const;
  readonly bytes: number;

  constructor(bytes: number) {
    super(`a git protocol line of ${bytes} bytes is longer than the ${MAX_PKT_PAYLOAD} bytes one pkt-line holds`);
    this.bytes = bytes;
  }
}

/** Encodes one pkt-line; throws PktLineTooLong for a payload over MAX_PKT_PAYLOAD bytes. */
export function pktLine(payload: string | Uint8Array): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : Buffer.from(payload);
  if (data.length > MAX_PKT_PAYLOAD) throw new PktLineTooLong(data.length);
  return Buffer.concat([Buffer.from((data.length + 4).toString(16).padStart(4, '0'), 'ascii'), data]);
}

/** The flush packet. */
export const FLUSH = Buffer.from('0000', 'ascii');

/** A decoded packet: data, or one of the special packets of protocol v2. */
export type Packet = { kind: 'data'; payload: Buffer } | { kind: 'flush' | 'delim' | 'response-end' };

/**
 * Reads pkt-lines from a byte stream without losing what follows them, so the rest of the stream
 * (a packfile) can be handed on untouched. Also keeps the raw bytes it consumed.
 */
export class PktReader {
  private buffer = Buffer.alloc(0);
  private done = false;
  private readonly iterator: AsyncIterator<Uint8Array>;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffer.length < n && !this.done) {
      const next = await this.iterator.next();
      if (next.done === true) this.done = true;
      else this.buffer = Buffer.concat([this.buffer, next.value]);
    }
    return this.buffer.length >= n;
  }

  /** The next packet with its raw bytes, or undefined at the end of the stream. Throws on malformed input. */
  async read(): Promise<{ packet: Packet; raw: Buffer } | undefined> {
    if (!(await this.fill(4))) {
      if (this.buffer.length === 0) return undefined;
      throw new Error('truncated pkt-line length');
    }
    const header = this.buffer.subarray(0, 4).toString('ascii');
    if (!/^[0-9a-f]{4}$/i.test(header)) throw new Error(`malformed pkt-line length ${JSON.stringify(header)}`);
    const length = Number.parseInt(header, 16);
    if (length < 4) {
      const raw = this.buffer.subarray(0, 4);
      this.buffer = this.buffer.subarray(4);
      const kind = length === 0 ? 'flush' : length === 1 ? 'delim' : length === 2 ? 'response-end' : undefined;
      if (kind === undefined) throw new Error(`malformed pkt-line length ${header}`);
      return { packet: { kind }, raw };
    }
    if (!(await this.fill(length))) throw new Error('truncated pkt-line');
    const raw = this.buffer.subarray(0, length);
    this.buffer = this.buffer.subarray(length);
    return { packet: { kind: 'data', payload: raw.subarray(4) }, raw };
  }

  /** Everything not read yet, as it arrives. */
  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.buffer.length > 0) {
      const b = this.buffer;
      this.buffer = Buffer.alloc(0);
      yield b;
    }
    while (!this.done) {
      const next = await this.iterator.next();
      if (next.done === true) this.done = true;
      else yield next.value;
    }
  }
}
