/**
 * An incremental JSON scanner for bundles far larger than memory should hold at once.
 *
 * It walks the structure of a document chunk by chunk. For each container the caller decides
 * whether to stream into it (`descend`) or to take it whole; values taken whole are cut out of
 * the byte stream and handed to JSON.parse one by one (or skipped without parsing), so memory
 * holds one value at a time, never the document. A bundle's `configs` array is descended, and
 * each of its elements arrives as one parsed object.
 *
 * Values and member names are read strictly (common/strict-json.ts), as every other body is: invalid
 * UTF-8 (INVALID_UTF8), a member name twice in one object (DUPLICATE_KEY, in a value taken whole and
 * in a descended object alike), a number a double cannot hold exactly (NUMBER_NOT_EXACT) and a value
 * of more than MAX_JSON_VALUES values (TOO_MANY_VALUES) are 400s with their code. A descended
 * object holds at most MAX_DESCENDED_MEMBERS members, so remembering its names stays bounded.
 * Values skipped without parsing (`wants` false) are not read at all: nothing of them is kept.
 */

import { MAX_JSON_VALUES } from '../common/json-body';
import { badRequest } from '../common/errors';
import { decodeUtf8Strict, parseStrictJson, StrictJsonError } from '../common/strict-json';

export type JsonPath = readonly (string | number)[];

export interface JsonScanHandlers {
  /** Stream into the object or array at `path` (true), or take it as one value (false). */
  descend(path: JsonPath, kind: 'object' | 'array'): boolean;
  /** Parse the value at `path` (true), or skip over it without building it (false). Default true. */
  wants?(path: JsonPath): boolean;
  /** A value taken whole (undefined when skipped). */
  value(path: JsonPath, value: unknown): void;
}

/** The document is not JSON. The message gives a byte offset, never the content. */
export class JsonSyntaxError extends Error {
  constructor(
    readonly offset: number,
    problem: string,
  ) {
    super(`Invalid JSON at byte ${offset}: ${problem}`);
    this.name = 'JsonSyntaxError';
  }
}

/** A value taken whole was larger than the scanner's limit. */
export class JsonValueTooLargeError extends Error {
  constructor(
    readonly path: JsonPath,
    readonly limit: number,
  ) {
    super(`A value in the document is larger than ${limit} bytes`);
    this.name = 'JsonValueTooLargeError';
  }
}

const enum Ch {
  Tab = 0x09,
  Lf = 0x0a,
  Cr = 0x0d,
  Space = 0x20,
  Quote = 0x22,
  Comma = 0x2c,
  Colon = 0x3a,
  LBracket = 0x5b,
  Backslash = 0x5c,
  RBracket = 0x5d,
  LBrace = 0x7b,
  RBrace = 0x7d,
}

const enum St {
  /** Object: a key or `}` (just after `{`). */
  ObjStart,
  /** Object: a key (after `,`). */
  ObjKey,
  ObjColon,
  ObjValue,
  /** Object: `,` or `}`. */
  ObjNext,
  /** Array: a value or `]` (just after `[`). */
  ArrStart,
  ArrValue,
  ArrNext,
  RootValue,
  RootDone,
}

interface Frame {
  kind: 'object' | 'array' | 'root';
  path: (string | number)[];
  state: St;
  index: number;
  key: string;
  /** Member names seen so far (descended objects). */
  names?: Set<string>;
}

/** Members a descended object (a bundle's root, a wrapped `bundle`) may hold: a bundle knows about a dozen. */
export const MAX_DESCENDED_MEMBERS = 1000;

const BOM = [0xef, 0xbb, 0xbf];
const isWs = (b: number) => b === Ch.Space || b === Ch.Lf || b === Ch.Cr || b === Ch.Tab;
const isScalarEnd = (b: number) => isWs(b) || b === Ch.Comma || b === Ch.RBrace || b === Ch.RBracket;

/** Keys of descended objects are short names; anything longer is not a bundle. */
const MAX_KEY_BYTES = 1024;

export class JsonStreamScanner {
  private readonly stack: Frame[] = [{ kind: 'root', path: [], state: St.RootValue, index: 0, key: '' }];
  private offset = 0;
  private first = true;
  private bom = 0;

  // What is being read: structure, an object key, or a value taken whole.
  private mode: 'structure' | 'key' | 'capture' = 'structure';
  private capKind: 'container' | 'string' | 'scalar' = 'container';
  private capDepth = 0;
  private inString = false;
  private escape = false;
  private keep = false;
  private parts: Buffer[] = [];
  private size = 0;
  private capPath: (string | number)[] = [];

  constructor(
    private readonly handlers: JsonScanHandlers,
    private readonly maxValueBytes = 4 * 1024 * 1024,
  ) {}

  write(chunk: Buffer): void {
    let i = 0;
    // A UTF-8 byte order mark is allowed before the document (possibly split across chunks).
    while (this.bom < 3 && this.offset + i === this.bom && i < chunk.length && chunk[i] === BOM[this.bom]) {
      this.bom++;
      i++;
    }
    if (chunk.length > 0) this.first = false;
    let start = this.mode === 'structure' ? -1 : 0;
    const n = chunk.length;
    while (i < n) {
      if (this.mode === 'structure') {
        const b = chunk[i];
        if (isWs(b)) {
          i++;
          continue;
        }
        const began = this.structural(b, i);
        if (began) start = i; // a key or a captured value begins at this byte
        i++;
        // A scalar may end at this very byte's successor; handled by the capture branch.
        continue;
      }
      if (this.mode === 'key' || this.capKind !== 'scalar') {
        // Inside a string or a container: find the end.
        const b = chunk[i];
        if (this.inString) {
          if (this.escape) this.escape = false;
          else if (b === Ch.Backslash) this.escape = true;
          else if (b === Ch.Quote) {
            this.inString = false;
            if (this.mode === 'key' || this.capKind === 'string') {
              this.finish(chunk, start, i + 1);
              start = -1;
            }
          } else if (b < 0x20) throw this.syntax(i, 'control character in a string');
          i++;
          continue;
        }
        // container capture, outside strings
        if (b === Ch.Quote) this.inString = true;
        else if (b === Ch.LBrace || b === Ch.LBracket) this.capDepth++;
        else if (b === Ch.RBrace || b === Ch.RBracket) {
          if (--this.capDepth === 0) {
            this.finish(chunk, start, i + 1);
            start = -1;
          }
        }
        i++;
        continue;
      }
      // scalar capture: ends before a delimiter, which structure mode then reads
      const b = chunk[i];
      if (isScalarEnd(b)) {
        this.finish(chunk, start, i);
        start = -1;
        continue;
      }
      i++;
    }
    if (this.mode !== 'structure' && start >= 0) this.collect(chunk.subarray(start, n));
    this.offset += n;
  }

  /** Call after the last chunk: checks that the document is complete. */
  end(): void {
    if (this.mode === 'capture' && this.capKind === 'scalar') this.finish(Buffer.alloc(0), 0, 0);
    if (this.mode !== 'structure' || this.stack.length !== 1 || this.stack[0].state !== St.RootDone) {
      throw new JsonSyntaxError(this.offset, this.first ? 'the document is empty' : 'the document ends too early');
    }
  }

  private syntax(i: number, problem: string): JsonSyntaxError {
    return new JsonSyntaxError(this.offset + i, problem);
  }

  /** Reads one structural byte; returns true when a key or a captured value starts at it. */
  private structural(b: number, i: number): boolean {
    const frame = this.stack[this.stack.length - 1];
    switch (frame.state) {
      case St.RootDone:
        throw this.syntax(i, 'content after the end of the document');
      case St.ObjStart:
      case St.ObjKey:
        if (b === Ch.RBrace && frame.state === St.ObjStart) return this.close(i);
        if (b !== Ch.Quote) throw this.syntax(i, 'expected a member name');
        this.startKey();
        return true;
      case St.ObjColon:
        if (b !== Ch.Colon) throw this.syntax(i, 'expected ":"');
        frame.state = St.ObjValue;
        return false;
      case St.ObjNext:
        if (b === Ch.Comma) frame.state = St.ObjKey;
        else if (b === Ch.RBrace) return this.close(i);
        else throw this.syntax(i, 'expected "," or "}"');
        return false;
      case St.ArrNext:
        if (b === Ch.Comma) frame.state = St.ArrValue;
        else if (b === Ch.RBracket) return this.close(i);
        else throw this.syntax(i, 'expected "," or "]"');
        return false;
      case St.ArrStart:
      case St.ArrValue:
      case St.ObjValue:
      case St.RootValue: {
        if (frame.state === St.ArrStart && b === Ch.RBracket) return this.close(i);
        const path = frame.kind === 'root' ? [] : [...frame.path, frame.kind === 'array' ? frame.index : frame.key];
        if (frame.kind === 'object') frame.state = St.ObjNext;
        else if (frame.kind === 'array') {
          frame.state = St.ArrNext;
          frame.index++;
        } else frame.state = St.RootDone;
        if (b === Ch.LBrace || b === Ch.LBracket) {
          const kind = b === Ch.LBrace ? 'object' : 'array';
          if (this.handlers.descend(path, kind)) {
            this.stack.push({ kind, path, state: kind === 'object' ? St.ObjStart : St.ArrStart, index: 0, key: '', names: kind === 'object' ? new Set() : undefined });
            return false;
          }
          this.startCapture(path, 'container');
          this.capDepth = 1;
          return true;
        }
        if (b === Ch.RBrace || b === Ch.RBracket || b === Ch.Comma || b === Ch.Colon) throw this.syntax(i, 'expected a value');
        if (frame.kind === 'root') throw this.syntax(i, 'expected an object or an array');
        this.startCapture(path, b === Ch.Quote ? 'string' : 'scalar');
        if (b === Ch.Quote) this.inString = true;
        return true;
      }
    }
  }

  /** A 400 with the strict reader's code; it names the row (its index) at most, never content. */
  private refused(code: StrictJsonError['code'], at: number, wasKey: boolean) {
    const last = this.capPath[this.capPath.length - 1];
    const where = !wasKey && typeof last === 'number' ? `row ${last}` : `the document, at byte ${at}`;
    const what: Record<string, string> = {
      INVALID_UTF8: 'is not valid UTF-8',
      DUPLICATE_KEY: 'has an object with the same member name twice',
      NUMBER_NOT_EXACT: 'holds a number that cannot be stored exactly (more digits than a 64-bit float holds); send it as a string',
      INVALID_VALUE: 'holds a number outside the range JSON numbers can be stored in',
      TOO_MANY_VALUES: wasKey ? `has an object of more than ${MAX_DESCENDED_MEMBERS} members` : `holds a value of more than ${MAX_JSON_VALUES} JSON values`,
      JSON_TOO_DEEP: 'is nested too deeply',
    };
    return badRequest(code, `The import body: ${where} ${what[code] ?? 'is not valid'}`);
  }

  private close(i: number): boolean {
    this.stack.pop();
    if (this.stack.length === 0) throw this.syntax(i, 'unbalanced brackets');
    return false;
  }

  private startKey(): void {
    this.mode = 'key';
    this.inString = true;
    this.escape = false;
    this.keep = true;
    this.parts = [];
    this.size = 0;
  }

  private startCapture(path: (string | number)[], kind: 'container' | 'string' | 'scalar'): void {
    this.mode = 'capture';
    this.capKind = kind;
    this.capPath = path;
    this.inString = false;
    this.escape = false;
    this.keep = this.handlers.wants ? this.handlers.wants(path) : true;
    this.parts = [];
    this.size = 0;
  }

  private collect(bytes: Buffer): void {
    this.size += bytes.length;
    const limit = this.mode === 'key' ? MAX_KEY_BYTES : this.maxValueBytes;
    if (this.size > limit) {
      if (this.mode === 'key') throw new JsonSyntaxError(this.offset, 'a member name is too long');
      throw new JsonValueTooLargeError(this.capPath, limit);
    }
    // Copy: the caller may reuse the chunk's memory.
    if (this.keep) this.parts.push(Buffer.from(bytes));
  }

  private finish(chunk: Buffer, start: number, endExclusive: number): void {
    this.collect(chunk.subarray(start, endExclusive));
    const wasKey = this.mode === 'key';
    this.mode = 'structure';
    if (!this.keep) {
      this.handlers.value(this.capPath, undefined);
      return;
    }
    const bytes = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
    this.parts = [];
    const at = this.offset + Math.max(0, start);
    let parsed: unknown;
    try {
      parsed = parseStrictJson(decodeUtf8Strict(bytes), { maxDepth: Number.POSITIVE_INFINITY, maxValues: MAX_JSON_VALUES });
    } catch (err) {
      if (!(err instanceof StrictJsonError) || err.code === 'INVALID_JSON') throw new JsonSyntaxError(at, wasKey ? 'invalid member name' : 'invalid value');
      throw this.refused(err.code, at, wasKey);
    }
    if (wasKey) {
      const frame = this.stack[this.stack.length - 1];
      const name = parsed as string;
      if (frame.names) {
        if (frame.names.has(name)) throw this.refused('DUPLICATE_KEY', at, true);
        if (frame.names.size >= MAX_DESCENDED_MEMBERS) throw this.refused('TOO_MANY_VALUES', at, true);
        frame.names.add(name);
      }
      frame.key = name;
      frame.state = St.ObjColon;
      return;
    }
    this.handlers.value(this.capPath, parsed);
  }
}

/** Scans a whole stream of chunks (a file, a request) with the given handlers. */
export async function scanJson(source: AsyncIterable<Buffer | string>, handlers: JsonScanHandlers, onChunk?: () => Promise<void> | void, maxValueBytes?: number): Promise<void> {
  const scanner = new JsonStreamScanner(handlers, maxValueBytes);
  for await (const chunk of source) {
    scanner.write(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk);
    if (onChunk) await onChunk();
  }
  scanner.end();
}
