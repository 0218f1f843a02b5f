import { LoggerService } from '@nestjs/common';
import { currentContext } from './request-context';
import type { LogLevel } from './env';

const RANK: Record<LogLevel, number> = { fatal: 60, error: 50, warn: 40, info: 30, debug: 20, silent: 100 };

/** Every line passes through this before it is written (the scrubber registers itself here). */
export type LineFilter = (line: string) => string;

/** Nest's start-up contexts: every module and route mapped (~50 lines), logged at debug. */
const STARTUP_CHATTER = new Set(['InstanceLoader', 'RoutesResolver', 'RouterExplorer', 'NestFactory', 'NestApplication']);

/**
 * JSON-lines logger for Nest and the service's own code. It never receives request bodies or
 * headers; every line still passes through the registered filters (the secret scrubber) last.
 */
export class JsonLogger implements LoggerService {
  private static filters: LineFilter[] = [];
  private readonly threshold: number;

  constructor(
    level: LogLevel = 'info',
    private readonly write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  ) {
    this.threshold = RANK[level];
  }

  static addFilter(filter: LineFilter): void {
    JsonLogger.filters.push(filter);
  }

  static removeFilter(filter: LineFilter): void {
    JsonLogger.filters = JsonLogger.filters.filter((f) => f !== filter);
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
      line = JSON.stringify(entry);
      for (const filter of JsonLogger.filters) line = filter(line);
    } catch {
      // A filter that fails must not let the raw line through.
      line = JSON.stringify({ level, time: entry.time, msg: 'log line withheld: scrubbing failed' });
    }
    this.write(line);
  }
}
