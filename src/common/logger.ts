import { LoggerService } from '@nestjs/common';
import { currentContext } from './request-context';
import type { LogFormat, LogLevel } from './env';

const RANK: Record<LogLevel, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, silent: 100 };

/** Every line passes through this before it is written (the ScrubberModule provides it). */
export type LineFilter = (line: string) => string;
export const LOG_LINE_FILTER = Symbol('LogLineFilter');
/** Where the application's logger writes its lines (tests collect them); stdout when not provided. */
export const LOG_WRITE = Symbol('LogWrite');

export interface LoggerOptions {
  format?: LogFormat;
  /** The scrubber: applied to every finished line, whatever its format. */
  filter?: LineFilter;
}

/** Fields a pretty line shows in its head rather than as `key=value`. */
const HEAD_FIELDS = new Set(['level', 'time', 'context', 'msg', 'requestId']);
const BARE_VALUE = /^[^\s"=]{1,200}$/;

/** One readable line: time, level, context, message, then `key=value` (quoted when it has spaces or quotes; never a newline). */
function prettyLine(entry: Record<string, unknown>): string {
  const time = String(entry.time).slice(11, 23);
  const level = String(entry.level).toUpperCase().padEnd(5);
  const parts = [time, level];
  if (entry.context) parts.push(`[${entry.context}]`);
  if (entry.msg !== undefined) parts.push(String(entry.msg).replace(/[\r\n]+/g, ' '));
  for (const [key, value] of Object.entries(entry)) {
    if (HEAD_FIELDS.has(key) || value === undefined) continue;
    // JSON text never holds a raw line break: a stack stays on its line, quoted.
    const text = typeof value !== 'string' ? JSON.stringify(value) : BARE_VALUE.test(value) ? value : JSON.stringify(value);
    parts.push(`${key}=${text}`);
  }
  if (entry.requestId) parts.push(`(${entry.requestId})`);
  return parts.join(' ');
}

/** Nest's start-up contexts: every module and route mapped (~50 lines), logged at debug. */
const STARTUP_CHATTER = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/**
 * The logger of Nest and the service's own code: JSON lines, or readable ones (LOG_FORMAT=pretty).
 * It never receives request bodies or headers; every line still passes the filter (the secret
 * scrubber) last. The application's instance is a provider (AppModule), so the filter is injected.
 */
export class JsonLogger implements LoggerService {
  private readonly threshold: number;
  private readonly format: LogFormat;
  private readonly filter?: LineFilter;

  constructor(
    level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
    options: LoggerOptions = {},
  ) {
    this.threshold = RANK[level];
    this.format = options.format ?? 'json';
    this.filter = options.filter;
  }

  log(message: unknown, ...rest: unknown[]) {
    this.emit('info', message, rest);
  }
  error(message: unknown, ...rest: unknown[]) {
    this.emit('error', message, rest);
  }
  warn(message: unknown, ...rest: unknown[]) {
    this.emit('warn', message, rest);
  }
  debug(message: unknown, ...rest: unknown[]) {
    this.emit('debug', message, rest);
  }
  verbose(message: unknown, ...rest: unknown[]) {
    this.emit('debug', message, rest);
  }
  fatal(message: unknown, ...rest: unknown[]) {
    this.emit('fatal', message, rest);
  }

  private emit(level: Exclude<LogLevel, 'silent'>, message: unknown, rest: unknown[]): void {
    // Nest passes the context name last; an error's stack may come before it.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest[rest.length - 1] as string) : undefined;
    // Nest's start-up chatter (every module and route mapped, ~50 lines) is for debugging.
    if (level === 'info' && context !== undefined && STARTUP_CHATTER.has(context)) level = 'debug';
    if (RANK[level] < this.threshold) return;
    if (context !== undefined) rest = rest.slice(0, -1);
    const ctx = currentContext();
    const entry: Record<string, unknown> = { level, time: new Date().toISOString() };
    if (context) entry.context = context;
    if (ctx) entry.requestId = ctx.requestId;
    if (ctx?.traceId) entry.traceId = ctx.traceId;
    if (message instanceof Error) {
      entry.msg = message.message;
      entry.err = message.stack;
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(entry, message);
    } else {
      entry.msg = String(message);
    }
    const stack = rest.find((r) => typeof r === 'string');
    if (stack) entry.stack = stack;
    // Start-up connection retries and the start's own failure: the error's first line, not its
    // stack (which says nothing an operator can act on, ten times over).
    if (context === 'TypeOrmModule' || context === 'ExceptionHandler') {
      for (const field of ['stack', 'err'] as const) if (typeof entry[field] === 'string') entry[field] = (entry[field] as string).split('\n', 1)[0];
    }
    let line: string;
    try {
      line = this.format === 'pretty' ? prettyLine(entry) : JSON.stringify(entry);
      if (this.filter) line = this.filter(line);
    } catch {
      // A filter that fails must not let the raw line through.
      line = JSON.stringify({ level, time: entry.time, msg: 'log line withheld: scrubbing failed' });
    }
    this.write(line);
  }
}
