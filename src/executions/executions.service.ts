import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuditInput, AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { TokensService } from '../auth/tokens.service';
import { inTransaction, timeParam } from '../common/database';
import { lockedForWrite } from '../common/dialect';
import { AppError, conflict, notFound } from '../common/errors';
import { currentContext } from '../common/request-context';
import { CryptoService } from '../crypto/crypto.service';
import { ConfigsRepository } from '../configs/configs.repository';
import { parseLimit, timeIdCursor } from '../common/paging';
import { isUuid } from '../common/params';
import { actFor } from '../scopes/acting-org';
import { isScrubbableSecret } from '../scrubber/secret-forms';
import { Scrubber } from '../scrubber/scrubber';
import { SecretRegistry } from '../scrubber/secret-registry';
import {
  ExecutionListDto,
  ExecutionTokenDto,
  ExecutionRecordDto,
  ExecutionSummaryDto,
  FinishExecutionDto,
  LogLineDto,
  MAX_LOG_BATCH_BYTES,
  MAX_EXECUTION_SECRET_BYTES,
  MAX_LOG_LINES,
  MAX_SECRETS_PER_EXECUTION,
  StartedExecutionDto,
} from './dto/execution.dto';
import { encodeExecutionSecret, Execution, ExecutionLog, ExecutionSecret, SecretExposure } from './execution.entity';
import { attributeRedactions, RecordingScrubber } from './redaction';

/** What the SDK read's own statement found of the execution it names, for registerSecrets' fast path. */
export interface SeenExecution {
  id: string;
  /** Its registered secrets as of that read. */
  count: number;
}

export const executionNotFound = () => notFound('EXECUTION_NOT_FOUND', 'No execution with this id in this org');
export const executionFinished = () => conflict('EXECUTION_FINISHED', 'The execution has finished already');
export const executionSecretsTooLarge = () =>
  new AppError(
    HttpStatus.PAYLOAD_TOO_LARGE,
    'EXECUTION_SECRETS_TOO_LARGE',
    `An execution's dynamic secrets may take at most ${MAX_EXECUTION_SECRET_BYTES} bytes (UTF-8) in all; nothing was registered`,
  );
const bytesOf = (values: Iterable<string>) => {
  let n = 0;
  for (const v of values) n += Buffer.byteLength(v, 'utf8');
  return n;
};
export const logBatchTooLarge = (message: string) => new AppError(HttpStatus.PAYLOAD_TOO_LARGE, 'LOG_BATCH_TOO_LARGE', message);

/** Refuses a batch over the limits before anything is parsed further or stored. */
export function checkLogBatch(lines: readonly { level?: unknown; message?: unknown }[]): void {
  if (lines.length > MAX_LOG_LINES) throw logBatchTooLarge(`A log batch holds at most ${MAX_LOG_LINES} lines; send the rest in another batch`);
  let bytes = 0;
  for (const line of lines) {
    if (typeof line?.message === 'string') bytes += Buffer.byteLength(line.message, 'utf8');
    if (bytes > MAX_LOG_BATCH_BYTES) throw logBatchTooLarge(`A log batch holds at most ${MAX_LOG_BATCH_BYTES} bytes of messages; send the rest in another batch`);
  }
}

const INSERT_CHUNK = 200;
const RESCRUB_CHUNK = 500;
/** The executions list's cursor: the last execution's start and id (newest first; no prefix, as issued before). */
const EXECUTION_CURSOR = timeIdCursor('');

const cut = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
const parseJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

/**
 * Execution records for the workflow engine. Everything an execution stores (workflow name, log
 * lines, result, error) is scrubbed with its registry (the org's secrets, the global ones, its
 * dynamic ones) before it is written. Writes to one execution lock its row, so a secret registered
 * while lines are being written is either applied to them or re-applied by the registration.
 */
@Injectable()
export class ExecutionsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly registry: SecretRegistry,
    private readonly tokens: TokensService,
    private readonly audit: AuditService,
    private readonly configs: ConfigsRepository,
  ) {}

  /**
   * Starts an execution and issues its execution token (one transaction: both or neither). The
   * token's lifetime is checked before anything is written.
   */
  async create(principal: Principal, orgId: string, workflow: string, tokenTtlSeconds?: number): Promise<StartedExecutionDto> {
    this.tokens.executionTokenTtl(tokenTtlSeconds);
    const scrubber = new RecordingScrubber(await this.registry.forTarget({ orgId }));
    const row: Execution = Object.assign(new Execution(), {
      id: randomUUID(),
      orgId,
      workflow: cut(scrubber.scrub(workflow), 255),
      status: 'running',
      result: null,
      error: null,
      createdBy: cut(principal.id, 36),
      startedAt: new Date(),
      finishedAt: null,
    });
    const issued = await inTransaction(this.dataSource, async (em) => {
      await em.insert(Execution, row);
      await this.noteRedactions(em, row, scrubber.changed, 'workflow');
      return this.tokens.issueExecutionToken(em, principal, orgId, row.id, tokenTtlSeconds);
    });
    this.enter(row);
    return { id: row.id, orgId: row.orgId, workflow: row.workflow, status: row.status, startedAt: row.startedAt, ...issued };
  }

  /** Another execution token for a running execution (the first one's TTL ran out, the worker restarted); 409 once it finished. */
  async issueToken(principal: Principal, orgId: string, id: string, tokenTtlSeconds?: number): Promise<ExecutionTokenDto> {
    if (!isUuid(id)) throw executionNotFound();
    this.tokens.executionTokenTtl(tokenTtlSeconds);
    return inTransaction(this.dataSource, async (em) => {
      const execution = await this.findOwned(em, orgId, id, true);
      if (execution.status !== 'running') throw executionFinished();
      this.enter(execution);
      return this.tokens.issueExecutionToken(em, principal, orgId, id, tokenTtlSeconds);
    });
  }

  async appendLogs(orgId: string, id: string, lines: LogLineDto[]): Promise<void> {
    checkLogBatch(lines);
    if (!isUuid(id)) throw executionNotFound();
    await inTransaction(this.dataSource, async (em) => {
      const execution = await this.findOwned(em, orgId, id, true);
      if (execution.status !== 'running') throw executionFinished();
      const scrubber = new RecordingScrubber(await this.freshScrubber(execution));
      if (lines.length === 0) return;
      const at = new Date();
      const rows = lines.map((line) =>
        Object.assign(new ExecutionLog(), { executionId: id, level: cut(scrubber.scrub(line.level), 16), message: scrubber.scrub(line.message), at }),
      );
      for (let i = 0; i < rows.length; i += INSERT_CHUNK) await em.insert(ExecutionLog, rows.slice(i, i + INSERT_CHUNK));
      await this.noteRedactions(em, execution, scrubber.changed, 'logs');
    });
  }

  /**
   * Registers dynamic secrets with the execution: stored encrypted (so every instance scrubs them),
   * and applied at once to what the execution stored before. Values already registered, and values
   * under 4 characters (never scrubbed, by rule), are skipped.
   */
  /**
   * `seen`: the caller's own statement found the execution in `orgId` and counted its secrets (the
   * SDK read), so the fast path asks the database nothing more.
   */
  async registerSecrets(orgId: string, id: string, values: readonly string[], seen?: SeenExecution): Promise<void> {
    if (!isUuid(id)) throw executionNotFound();
    const wanted = [...new Set(values.filter(isScrubbableSecret))];
    if (bytesOf(wanted) > MAX_EXECUTION_SECRET_BYTES) throw executionSecretsTooLarge();
    // Fast path (an SDK read of a secret it registered already): no transaction, no lock.
    if (seen && seen.id === id) this.enter({ id, orgId });
    else this.enter(await this.findOwned(this.dataSource.manager, orgId, id, false));
    const known = new Set(await this.registry.executionSecrets(id, seen?.id === id ? seen.count : undefined));
    if (wanted.every((v) => known.has(v))) return;

    await inTransaction(this.dataSource, async (em) => {
      await this.findOwned(em, orgId, id, true);
      const current = new Set(await this.registry.executionSecrets(id));
      const fresh = wanted.filter((v) => !current.has(v));
      if (fresh.length === 0) return;
      if (current.size + fresh.length > MAX_SECRETS_PER_EXECUTION) {
        throw new AppError(HttpStatus.PAYLOAD_TOO_LARGE, 'TOO_MANY_EXECUTION_SECRETS', `An execution holds at most ${MAX_SECRETS_PER_EXECUTION} dynamic secrets`);
      }
      if (bytesOf(current) + bytesOf(fresh) > MAX_EXECUTION_SECRET_BYTES) throw executionSecretsTooLarge();
      const createdAt = new Date();
      await em.insert(
        ExecutionSecret,
        fresh.map((v) => Object.assign(new ExecutionSecret(), { executionId: id, ciphertext: this.crypto.encryptString(encodeExecutionSecret(v)), keyId: this.crypto.currentKeyId, createdAt })),
      );
      // Built in slices: a large registration never holds the event loop (see SecretMatcher.build).
      await this.rescrubStored(em, id, await Scrubber.build(fresh), fresh);
    });
    this.registry.forget();
  }

  async finish(orgId: string, id: string, dto: FinishExecutionDto): Promise<ExecutionRecordDto> {
    if (!isUuid(id)) throw executionNotFound();
    await inTransaction(this.dataSource, async (em) => {
      const execution = await this.findOwned(em, orgId, id, true);
      if (execution.status !== 'running') throw executionFinished();
      const scrubber = await this.freshScrubber(execution);
      const [result, error] = [new RecordingScrubber(scrubber), new RecordingScrubber(scrubber)];
      const json = (v: unknown, r: RecordingScrubber) => (v === undefined || v === null ? null : JSON.stringify(r.scrubDeep(v)));
      await em.update(Execution, { id }, { status: dto.status, result: json(dto.result, result), error: json(dto.error, error), finishedAt: new Date() });
      const where = [result.changed.length > 0 ? 'result' : '', error.changed.length > 0 ? 'error' : ''].filter(Boolean).join('+');
      await this.noteRedactions(em, execution, [...result.changed, ...error.changed], where);
    });
    return this.get(orgId, id);
  }

  /** An execution with its logs; `orgId` null (an admin) reads any org's. */
  async get(orgId: string | null, id: string): Promise<ExecutionRecordDto> {
    if (!isUuid(id)) throw executionNotFound();
    const execution = await this.findOwned(this.dataSource.manager, orgId, id, false);
    this.enter(execution);
    const logs = await this.dataSource
      .getRepository(ExecutionLog)
      .createQueryBuilder('l')
      .select(['l.id', 'l.level', 'l.message', 'l.at'])
      .where('l.executionId = :id', { id })
      .orderBy('l.id', 'ASC')
      .getMany();
    return { ...this.summary(execution), logs: logs.map((l) => ({ level: l.level, message: l.message, at: l.at })) };
  }

  /** Newest first; `orgId` null (an admin without a filter) lists every org's. */
  async list(orgId: string | null, q: { status?: string; limit?: string; cursor?: string }): Promise<ExecutionListDto> {
    const limit = parseLimit(q.limit);
    const after = EXECUTION_CURSOR.decode(q.cursor);
    const qb = this.dataSource.getRepository(Execution).createQueryBuilder('e');
    if (orgId) qb.andWhere('e.orgId = :orgId', { orgId });
    if (q.status) qb.andWhere('e.status = :status', { status: q.status });
    if (after !== undefined) {
      const t = timeParam(this.dataSource, after.at);
      qb.andWhere('(e.startedAt < :t OR (e.startedAt = :t AND e.id < :id))', { t, id: after.id });
    }
    const rows = await qb.orderBy('e.startedAt', 'DESC').addOrderBy('e.id', 'DESC').limit(limit + 1).getMany();
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const last = page[page.length - 1];
    return {
      items: page.map((e) => this.summary(e)),
      nextCursor: more ? EXECUTION_CURSOR.encode({ at: last.startedAt, id: last.id }) : null,
    };
  }

  private summary(e: Execution): ExecutionSummaryDto {
    return {
      id: e.id,
      orgId: e.orgId,
      workflow: e.workflow,
      status: e.status,
      result: parseJson(e.result),
      error: parseJson(e.error),
      startedAt: e.startedAt,
      finishedAt: e.finishedAt,
    };
  }

  /** The execution if it belongs to `orgId` (any org when null), locked for the transaction if asked. */
  private async findOwned(em: EntityManager, orgId: string | null, id: string, lock: boolean): Promise<Execution> {
    const qb = em.getRepository(Execution).createQueryBuilder('e').where('e.id = :id', { id });
    if (orgId) qb.andWhere('e.orgId = :orgId', { orgId });
    if (lock) lockedForWrite(this.dataSource, qb);
    const execution = await qb.getOne();
    if (!execution) throw executionNotFound();
    return execution;
  }

  /** The request now acts for the execution's org, and responses are scrubbed with its secrets. */
  private enter(execution: Pick<Execution, 'id' | 'orgId'>): void {
    const ctx = currentContext();
    if (!ctx) return;
    actFor(execution.orgId, ctx);
    ctx.executionId = execution.id;
  }

  /** Read inside the execution's lock, so no registration can slip between scrubbing and storing. */
  private async freshScrubber(execution: Execution): Promise<Scrubber> {
    this.enter(execution);
    this.registry.forget();
    return this.registry.forTarget({ orgId: execution.orgId, executionId: execution.id });
  }

  /**
   * A redaction from what the execution stores means the secret reached workflow output (the rare
   * path: `changed` is empty otherwise). Each secret found is tested alone; a config's is marked
   * exposed (unless its value changed meanwhile), and each (execution, secret) pair is audited once,
   * in the transaction of the write, as `secret.redacted` with the count of that write. Never a value.
   */
  private async noteRedactions(em: EntityManager, execution: Pick<Execution, 'id' | 'orgId'>, changed: readonly string[], where: string, dynamic?: readonly string[]): Promise<void> {
    if (changed.length === 0) return;
    const found = await attributeRedactions(changed, this.registry.configSecrets(execution.orgId), dynamic ?? (await this.registry.executionSecrets(execution.id)));
    if (found.length === 0) return;
    const at = new Date();
    for (const f of found) {
      if (f.ciphertext !== null) await this.configs.markExposed(em, f.scope, f.key, f.ciphertext, at);
    }
    const known = await em.getRepository(SecretExposure).createQueryBuilder('x').select(['x.scope', 'x.key']).where('x.executionId = :id', { id: execution.id }).getMany();
    const seen = new Set(known.map((k) => `${k.scope}\u0000${k.key}`));
    const fresh = found.filter((f) => !seen.has(`${f.scope}\u0000${f.key}`));
    if (fresh.length === 0) return;
    await em.insert(
      SecretExposure,
      fresh.map((f) => Object.assign(new SecretExposure(), { executionId: execution.id, scope: f.scope, key: f.key, count: f.count, at })),
    );
    await this.audit.record(
      em,
      fresh.map(
        (f): AuditInput => ({
          action: 'secret.redacted',
          outcome: 'success',
          scope: f.scope || null,
          key: f.key || null,
          configType: f.ciphertext !== null ? 'secret' : null,
          reason: `count=${f.count} in=${where}${f.ciphertext === null ? ' (dynamic secrets of the execution)' : ''}`,
          executionId: execution.id,
        }),
      ),
    );
  }

  /**
   * Applies newly registered secrets (`fresh`, not committed yet, so attributed as given) to what
   * the execution stored already; what they redact there is a leak like any other (noteRedactions).
   */
  private async rescrubStored(em: EntityManager, id: string, built: Scrubber, fresh: readonly string[]): Promise<void> {
    if (built.isEmpty) return;
    const scrubber = new RecordingScrubber(built);
    const execution = await em.findOneByOrFail(Execution, { id });
    const json = (text: string | null) => (text === null ? null : JSON.stringify(scrubber.scrubDeep(JSON.parse(text))));
    const patch = { workflow: scrubber.scrub(execution.workflow).slice(0, 255), result: json(execution.result), error: json(execution.error) };
    if (patch.workflow !== execution.workflow || patch.result !== execution.result || patch.error !== execution.error) {
      await em.update(Execution, { id }, patch);
    }
    let after: number | string = 0;
    for (;;) {
      const rows = await em
        .getRepository(ExecutionLog)
        .createQueryBuilder('l')
        .select(['l.id', 'l.level', 'l.message'])
        .where('l.executionId = :id AND l.id > :after', { id, after })
        .orderBy('l.id', 'ASC')
        .limit(RESCRUB_CHUNK)
        .getMany();
      if (rows.length === 0) break;
      for (const row of rows) {
        const message = scrubber.scrub(row.message);
        const level = cut(scrubber.scrub(row.level), 16);
        if (message !== row.message || level !== row.level) await em.update(ExecutionLog, { id: row.id }, { message, level });
      }
      after = rows[rows.length - 1].id;
    }
    await this.noteRedactions(em, execution, scrubber.changed, 'stored output', fresh);
  }
}
