/**
 * `npm run bench:bodies`: what reading and validating (or refusing) one request body costs, in ms
 * per 100 KiB of body, by member count, before and after issue 13 item 3.
 *
 * - before: secure-json-parse, then Nest's ValidationPipe with class-transformer (the pipe as it was);
 * - after: the strict reader (src/common/strict-json.ts, with the body parser's caps), then the
 *   pipe as built by src/common/validation.ts (linear plainToInstance, DTO member cap).
 *
 * Two shapes, PUT /api/scopes/{scope}/configs/{key} bodies: `top`, N unknown members beside type
 * and value (refused, VALIDATION_FAILED), and `nested`, a json value of N members (valid for the
 * pipe; a real request is then refused as VALUE_TOO_LARGE above 64 KiB). Each case is run
 * BENCH_REPEAT times (default 3), the median kept. "before" stops at BENCH_BEFORE_MAX members
 * (default 20,000): its cost is quadratic and 80,000 members took seconds.
 * Pure CPU, in this process: no server, no database. Under a minute on 2 loaded cores.
 */
import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import secureJson from 'secure-json-parse';
import { MAX_JSON_DEPTH, MAX_JSON_VALUES } from '../../src/common/json-body';
import { parseStrictJsonBytes } from '../../src/common/strict-json';
import { validationPipe } from '../../src/common/validation';
import { PutConfigDto } from '../../src/configs/dto/config.dto';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const BEFORE_MAX = Number(process.env.BENCH_BEFORE_MAX ?? 20_000);
const COUNTS = [5_000, 10_000, 20_000, 40_000, 80_000];
const META = { type: 'body' as const, metatype: PutConfigDto };

// Nest's ValidationPipe keeps the transformer package in a module-level variable, set by the last
// pipe constructed: the "before" pipe is built and run first, the "after" pipe only then.
const beforePipe = () => new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true, transform: true, validationError: { target: false, value: false } });

function body(shape: 'top' | 'nested', n: number): Buffer {
  const members = Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',');
  return Buffer.from(shape === 'top' ? `{"type":"json","value":1,${members}}` : `{"type":"json","value":{${members}}}`);
}

async function time(fn: () => Promise<unknown>): Promise<number> {
  const runs: number[] = [];
  for (let r = 0; r < REPEAT; r++) {
    const t0 = process.hrtime.bigint();
    await fn().catch(() => undefined);
    runs.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return runs.sort((a, b) => a - b)[Math.floor(runs.length / 2)];
}

async function main() {
  const cases = (['top', 'nested'] as const).flatMap((shape) => COUNTS.map((n) => ({ shape, n, bytes: body(shape, n) })));
  const before = new Map<string, number>();
  const pipe = beforePipe();
  for (const { shape, n, bytes } of cases) {
    if (n > BEFORE_MAX) continue;
    before.set(`${shape}${n}`, await time(async () => pipe.transform(secureJson.parse(bytes.toString('utf8'), undefined, { protoAction: 'error', constructorAction: 'error' }), META)));
  }
  const afterPipe = validationPipe();
  const rows: Record<string, unknown>[] = [];
  for (const { shape, n, bytes } of cases) {
    const kib100 = bytes.length / (100 * 1024);
    const b = before.get(`${shape}${n}`);
    const after = await time(async () => afterPipe.transform(parseStrictJsonBytes(bytes, { maxDepth: MAX_JSON_DEPTH, maxValues: MAX_JSON_VALUES }), META));
    rows.push({
      shape,
      members: n,
      KiB: Math.round(bytes.length / 1024),
      'before ms': b === undefined ? '(skipped)' : b.toFixed(1),
      'before ms/100KiB': b === undefined ? '' : (b / kib100).toFixed(1),
      'after ms': after.toFixed(1),
      'after ms/100KiB': (after / kib100).toFixed(1),
    });
  }
  console.table(rows);
}

void main();
