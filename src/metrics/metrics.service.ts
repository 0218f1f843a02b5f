import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DataSource } from 'typeorm';
import { mysqlPool } from '../common/database';
import { MATCHER_BUILDS } from '../scrubber/scrubber';

/** What mysql2's pool keeps about its connections (no public API: read defensively). */
interface PoolInternals {
  config?: { connectionLimit?: number };
  _allConnections?: { length: number };
  _freeConnections?: { length: number };
  _connectionQueue?: { length: number };
}

/**
 * The service's Prometheus metrics, in a registry of this application's own (two applications in
 * one process, as in the tests, never share or clash). Labels are route patterns, methods, statuses,
 * audit actions and outcomes: never a key, a value, a token or an id.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requests = new Counter({ name: 'bifrost_http_requests_total', help: 'HTTP requests answered, by method, route pattern and status', labelNames: ['method', 'route', 'status'], registers: [this.registry] });
  private readonly durations = new Histogram({
    name: 'bifrost_http_request_duration_seconds',
    help: 'Time to answer an HTTP request, by method and route pattern',
    labelNames: ['method', 'route'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });
  private readonly auditEntries = new Counter({
    name: 'bifrost_audit_entries_total',
    help: 'Audit entries written, by action and outcome (config.read with success: the secret and config reads of the SDK)',
    labelNames: ['action', 'outcome'],
    registers: [this.registry],
  });
  private readonly auditBatch = new Histogram({
    name: 'bifrost_audit_batch_size',
    help: 'Entries per group-committed audit insert',
    buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500],
    registers: [this.registry],
  });
  private auditQueue: () => number = () => 0;

  constructor(@InjectDataSource() dataSource: DataSource) {
    collectDefaultMetrics({ register: this.registry, prefix: 'bifrost_' });
    this.gauge('bifrost_audit_queue_depth', 'Audit entries of reads waiting for their group commit', () => this.auditQueue());
    this.gauge('bifrost_scrubber_matcher_builds', 'Secret matchers built since start (each change of a scope’s or an execution’s secrets)', () => MATCHER_BUILDS.count);
    this.gauge('bifrost_scrubber_matcher_build_seconds', 'Time spent building secret matchers since start', () => MATCHER_BUILDS.seconds);
    const pool = mysqlPool(dataSource) as PoolInternals | null;
    if (pool) {
      new Gauge({
        name: 'bifrost_db_pool_connections',
        help: 'MySQL pool connections: the limit, open, idle, and requests waiting for one',
        labelNames: ['state'],
        registers: [this.registry],
        collect() {
          this.set({ state: 'limit' }, pool.config?.connectionLimit ?? 0);
          this.set({ state: 'open' }, pool._allConnections?.length ?? 0);
          this.set({ state: 'idle' }, pool._freeConnections?.length ?? 0);
          this.set({ state: 'waiting' }, pool._connectionQueue?.length ?? 0);
        },
      });
    }
  }

  /** A gauge read when scraped. */
  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** One answered request (from the onResponse hook): `route` is the pattern, or null for no route. */
  request(method: string, route: string | null, status: number, seconds: number): void {
    const r = route ?? '(no route)';
    this.requests.inc({ method, route: r, status: String(status) });
    this.durations.observe({ method, route: r }, seconds);
  }

  auditWritten(action: string, outcome: string, n = 1): void {
    this.auditEntries.inc({ action, outcome }, n);
  }

  auditBatchWritten(rows: number): void {
    this.auditBatch.observe(rows);
  }

  /** Where the audit queue's depth is read from. */
  watchAuditQueue(depth: () => number): void {
    this.auditQueue = depth;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
