import { StreamableFile } from '@nestjs/common';
import { Transform, TransformCallback } from 'node:stream';
import { StringDecoder } from 'node:string_decoder';
import { mergeRegions, splice } from './matcher/regions';
import { decodedViews, scrubJsonValue, SecretMatcher, TextScrubber } from './secret-matcher';

export { mergeRegions };

/**
 * One or more matchers used as one: a text is scrubbed of the union of what each of them finds, so
 * the result is exactly that of a single matcher of all their secrets (a match is a match of one
 * pattern; overlapping regions are merged either way). The registry composes the scrubber of a
 * request from the matchers of its scopes and execution, each built once, instead of rebuilding one
 * matcher of everything whenever one of them changes.
 */
/** Matcher builds of this process, read by the metrics (src/metrics): counts only, never a secret. */
export const MATCHER_BUILDS = { count: 0, seconds: 0 };

export class Scrubber implements TextScrubber {
  static readonly EMPTY = new Scrubber([]);
  readonly matchers: readonly SecretMatcher[];
  readonly matchesNumbers: boolean;

  constructor(matchers: readonly SecretMatcher[]) {
    this.matchers = matchers.filter((m) => !m.isEmpty);
    this.matchesNumbers = this.matchers.some((m) => m.matchesNumbers);
  }

  /** Built at once, on the calling thread (small sets, tests). */
  static of(secrets: Iterable<string>): Scrubber {
    const list = [...secrets];
    if (list.length === 0) return Scrubber.EMPTY;
    return new Scrubber([new SecretMatcher(list)]);
  }

  /** Built in slices that give the event loop back (see SecretMatcher.build). */
  static async build(secrets: Iterable<string>): Promise<Scrubber> {
    const list = [...secrets];
    if (list.length === 0) return Scrubber.EMPTY;
    const t0 = performance.now();
    const built = new Scrubber([await SecretMatcher.build(list)]);
    MATCHER_BUILDS.count++;
    MATCHER_BUILDS.seconds += (performance.now() - t0) / 1000;
    return built;
  }

  /** The scrubbers used as one (no build). */
  static combine(parts: readonly Scrubber[]): Scrubber {
    const matchers: SecretMatcher[] = [];
    for (const p of parts) for (const m of p.matchers) if (!matchers.includes(m)) matchers.push(m);
    if (matchers.length === 0) return Scrubber.EMPTY;
    return new Scrubber(matchers);
  }

  get isEmpty(): boolean {
    return this.matchers.length === 0;
  }

  /** The longest text one match can cover (see SecretMatcher.span). */
  get window(): number {
    let max = 0;
    for (const m of this.matchers) if (m.span > max) max = m.span;
    return max;
  }

  containsSecret(text: string): boolean {
    const ms = this.matchers;
    if (ms.length === 1) return ms[0].containsSecret(text);
    const views = ms.length === 0 ? [] : decodedViews(text);
    for (const m of ms) if (m.containsSecret(text, views)) return true;
    return false;
  }

  scrub(text: string): string {
    const ms = this.matchers;
    if (ms.length === 0) return text;
    if (ms.length === 1) return ms[0].scrub(text);
    // The decoded views of the text are the same for every matcher: computed once.
    const views = decodedViews(text);
    const lists: number[][] = [];
    for (const m of ms) {
      const r = m.regions(text, views);
      if (r !== null) lists.push(r);
    }
    if (lists.length === 0) return text;
    if (lists.length === 1) return splice(text, lists[0]);
    return splice(text, mergeRegions(lists));
  }

  scrubDeep<T>(value: T): T {
    const ms = this.matchers;
    if (ms.length === 0) return value;
    if (ms.length === 1) return ms[0].scrubDeep(value) as T;
    return scrubJsonValue(value, this) as T;
  }

  /**
   * A response body with every registered secret replaced: JSON values (strings anywhere, object
   * keys too), text, buffers and streamed files. `exempt` names top-level fields of a JSON object
   * that pass unchanged (their keys are not secrets either).
   */
  scrubBody(body: unknown, exempt: readonly string[] = []): unknown {
    if (body === undefined || body === null) return body;
    if (typeof body === 'string') return this.scrub(body);
    if (body instanceof StreamableFile) return this.scrubStreamable(body);
    if (Buffer.isBuffer(body) || body instanceof Uint8Array) return this.scrubBytes(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
    if (exempt.length > 0 && typeof body === 'object' && !Array.isArray(body)) {
      const out: Record<string, unknown> = {};
      for (const key of Object.keys(body)) {
        const value = (body as Record<string, unknown>)[key];
        if (exempt.includes(key)) out[key] = value;
        else Object.defineProperty(out, this.scrub(key), { value: this.scrubDeep(value), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    return this.scrubDeep(body);
  }

  /** Text as UTF-8 when it is valid UTF-8, else byte for byte as latin1 (so ASCII secrets are still found). */
  private scrubBytes(bytes: Buffer): Buffer {
    if (this.isEmpty) return bytes;
    const text = bytes.toString('utf8');
    if (Buffer.byteLength(text) === bytes.length && !text.includes('\ufffd')) return Buffer.from(this.scrub(text), 'utf8');
    return Buffer.from(this.scrub(bytes.toString('latin1')), 'latin1');
  }

  private scrubStreamable(file: StreamableFile): StreamableFile {
    if (this.isEmpty) return file;
    const { type, disposition } = file.getHeaders();
    // The length changes with each replacement, so Content-Length is dropped (chunked transfer).
    return new StreamableFile(file.getStream().pipe(new ScrubStream(this)), { type, disposition });
  }
}

/** The longest text a ScrubStream holds back while it looks for a safe place to cut (then it fails). */
export const MAX_STREAM_HOLD = 64 * 1024 * 1024;

/**
 * Scrubs a UTF-8 stream with bounded memory. A form may straddle two chunks, so text is held back
 * and only cut where no form can cross the cut: at a point c at least `window` before the end
 * (so every match starting before c ends inside the held text) whose surrounding window holds no
 * match at all (so none crosses c). Text before c is then final and is scrubbed and passed on.
 * Where secrets are so dense that no such point exists, the text is held (and the next attempt
 * waits until it has doubled, so holding stays linear) up to MAX_STREAM_HOLD, past which the
 * stream fails rather than pass anything unscrubbed.
 */
export class ScrubStream extends Transform {
  private chunks: string[] = [];
  private held = 0;
  private nextAttempt: number;
  private readonly decoder = new StringDecoder('utf8');

  constructor(
    private readonly scrubber: Scrubber,
    private readonly flushAt = 64 * 1024,
  ) {
    super();
    this.nextAttempt = flushAt;
  }

  override _transform(chunk: Buffer | string, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
      this.chunks.push(text);
      this.held += text.length;
      if (this.held >= this.nextAttempt) this.drain();
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.chunks.push(this.decoder.end());
      const rest = this.chunks.join('');
      this.chunks = [];
      if (rest.length > 0) this.push(Buffer.from(this.scrubber.scrub(rest), 'utf8'));
      callback();
    } catch (err) {
      callback(err as Error);
    }
  }

  private drain(): void {
    const w = Math.max(this.scrubber.window, 4);
    const text = this.chunks.join('');
    const cut = text.length >= 3 * w ? this.safeCut(text, w) : -1;
    if (cut < 0) {
      if (text.length > MAX_STREAM_HOLD) throw new Error('ScrubStream: secrets too dense to find a safe place to cut the text');
      this.chunks = [text];
      this.nextAttempt = Math.max(2 * text.length, this.flushAt + 3 * w);
      return;
    }
    this.push(Buffer.from(this.scrubber.scrub(text.slice(0, cut)), 'utf8'));
    const rest = text.slice(cut);
    this.chunks = [rest];
    this.held = rest.length;
    this.nextAttempt = rest.length + Math.max(this.flushAt, 3 * w);
  }

  /** The latest safe cut point near the end, or -1 when the tail is dense with matches. */
  private safeCut(text: string, w: number): number {
    for (let cut = text.length - w; cut >= w && cut > text.length - 9 * w; cut -= w) {
      let c = cut;
      const code = text.charCodeAt(c - 1);
      if (code >= 0xd800 && code <= 0xdbff) c--; // never split a surrogate pair
      const around = text.slice(c - w + 1, c + w - 1);
      if (!this.scrubber.containsSecret(around)) return c;
    }
    return -1;
  }
}
