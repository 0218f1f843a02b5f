import type { DataSource } from 'typeorm';
import type { RequestContext } from '../common/request-context';
import type { CryptoService } from '../crypto/crypto.service';
import { LruMap } from '../common/lru-map';
import { SecretRegistry } from './secret-registry';
import { ConfigsRepository } from '../configs/configs.repository';

const ORG = '11111111-1111-4111-8111-111111111111';
const OTHER = '22222222-2222-4222-8222-222222222222';
const EXEC = '33333333-3333-4333-8333-333333333333';

/** The tables the registry reads, in memory, answering the registry's few SQL shapes. */
class FakeDb {
  versions = new Map<string, number>();
  configs: { scope: string; ciphertext: string }[] = [];
  executions = new Map<string, string>(); // id -> org
  executionSecrets: { executionId: string; ciphertext: string }[] = [];
  queries: string[] = [];
  failNext = false;
  /** While set, a scope load waits for it: before reading (a late snapshot) or after (an early one). */
  gate: Promise<void> | null = null;
  snapshotBeforeGate = false;

  setSecret(scope: string, values: string[]): void {
    this.configs = this.configs.filter((c) => c.scope !== scope).concat(values.map((v) => ({ scope, ciphertext: `enc:${v}` })));
    this.versions.set(scope, (this.versions.get(scope) ?? 0) + 1);
  }

  async query(sql: string, params: unknown[] = []): Promise<unknown[]> {
    this.queries.push(sql);
    if (this.failNext) {
      this.failNext = false;
      throw new Error('connection lost');
    }
    if (this.gate && sql.startsWith("SELECT 'c' AS kind")) {
      const gate = this.gate;
      if (this.snapshotBeforeGate) {
        const rows = this.answer(sql, params);
        await gate;
        return rows;
      }
      await gate;
    }
    return this.answer(sql, params);
  }

  private answer(sql: string, params: unknown[]): unknown[] {
    const out: unknown[] = [];
    let p = 0;
    for (const part of sql.split(' UNION ALL ')) {
      if (part.startsWith('SELECT scope AS k')) {
        const scopes = [params[p++], params[p++]] as string[];
        for (const s of scopes) if (this.versions.has(s)) out.push({ k: s, v: this.versions.get(s) });
      } else if (part.startsWith("SELECT '#all'")) {
        out.push({ k: '#all', v: String([...this.versions.values()].reduce((a, b) => a + b, 0)) });
      } else if (part.startsWith("SELECT '#execution'")) {
        const id = params[p++] as string;
        const org = part.includes('e.org_id = ?') ? (params[p++] as string) : null;
        const owned = this.executions.has(id) && (org === null || this.executions.get(id) === org);
        out.push({ k: '#execution', v: owned ? this.executionSecrets.filter((s) => s.executionId === id).length : 0 });
      } else if (part.startsWith('SELECT scope, version FROM secret_versions')) {
        for (const [scope, version] of this.versions) out.push({ scope, version });
      } else if (part.startsWith("SELECT 'c' AS kind, `key` AS k, ciphertext AS v FROM configs")) {
        const scope = params[p++] as string;
        for (const c of this.configs) if (c.scope === scope) out.push({ kind: 'c', k: `key-of-${c.ciphertext}`, v: c.ciphertext });
      } else if (part.startsWith("SELECT 'v', NULL, version FROM secret_versions WHERE scope = ?")) {
        const scope = params[p++] as string;
        if (this.versions.has(scope)) out.push({ kind: 'v', v: this.versions.get(scope) });
      } else if (part.startsWith('SELECT ciphertext FROM execution_secrets')) {
        for (const s of this.executionSecrets) if (s.executionId === params[0]) out.push({ ciphertext: s.ciphertext });
      } else if (part.startsWith('SELECT COUNT(*) AS n FROM execution_secrets')) {
        out.push({ n: this.executionSecrets.filter((s) => s.executionId === params[0]).length });
      } else {
        throw new Error(`unexpected SQL: ${part}`);
      }
    }
    return out;
  }
}

const fakeCrypto = {
  decryptString: (token: string) => {
    if (!token.startsWith('enc:')) throw new Error('invalid token');
    return token.slice(4);
  },
} as unknown as CryptoService;

const ctx = (): RequestContext => ({ requestId: 'r', ip: null, userAgent: null, method: 'GET', path: '/' });

describe('SecretRegistry', () => {
  let db: FakeDb;
  let registry: SecretRegistry;

  beforeEach(() => {
    db = new FakeDb();
    registry = new SecretRegistry(db as unknown as DataSource, fakeCrypto, new ConfigsRepository(db as unknown as DataSource));
    db.setSecret('global', ['global-secret-1']);
    db.setSecret(ORG, ['org-secret-1']);
    db.setSecret(OTHER, ['other-secret-1']);
  });

  it('scrubs an org request with the org’s and the global secrets, not another org’s', async () => {
    const s = await registry.forTarget({ orgId: ORG }, undefined);
    expect(s.scrub('a org-secret-1 b global-secret-1 c other-secret-1')).toBe('a [REDACTED] b [REDACTED] c other-secret-1');
  });

  it('reads the versions once per resolution and reloads nothing while they stay put', async () => {
    const first = await registry.forTarget({ orgId: ORG }, undefined);
    db.queries = [];
    const second = await registry.forTarget({ orgId: ORG }, undefined);
    expect(db.queries).toHaveLength(1);
    expect(db.queries[0]).toMatch(/^SELECT scope AS k, version AS v FROM secret_versions/);
    // The same matcher object: nothing was rebuilt.
    expect(second).toBe(first);
  });

  it('reloads only the scope whose version moved (as when another instance wrote it)', async () => {
    await registry.forTarget({ orgId: ORG }, undefined);
    db.setSecret(ORG, ['org-secret-2']);
    db.queries = [];
    const s = await registry.forTarget({ orgId: ORG }, undefined);
    expect(db.queries).toHaveLength(2);
    expect(db.queries[1]).toMatch(/FROM configs/);
    // The replaced value may stay redacted until the org's base matcher is rebuilt (LayeredMatcher).
    expect(s.scrub('org-secret-1 org-secret-2 global-secret-1')).toBe('[REDACTED] [REDACTED] [REDACTED]');
    await registry.settle();
    const rebuilt = await registry.forTarget({ orgId: ORG }, undefined);
    expect(rebuilt.scrub('org-secret-1 org-secret-2 global-secret-1')).toBe('org-secret-1 [REDACTED] [REDACTED]');
  });

  it('takes a write of this instance as it is (no reload of the scope) when nothing else changed in between', async () => {
    await registry.forTarget({ orgId: ORG }, undefined);
    const v = db.versions.get(ORG)!;
    db.configs.push({ scope: ORG, ciphertext: 'enc:org-secret-2' });
    db.versions.set(ORG, v + 1);
    registry.noteWrite(ORG, v + 1, 'k2', { ciphertext: 'enc:org-secret-2', plain: 'org-secret-2' });
    db.queries = [];
    const s = await registry.forTarget({ orgId: ORG }, undefined);
    expect(db.queries.filter((q) => q.includes('FROM configs'))).toHaveLength(0);
    expect(s.scrub('org-secret-1 org-secret-2')).toBe('[REDACTED] [REDACTED]');
    // A gap (another instance wrote v + 2): the note of v + 3 is ignored and the scope is reloaded.
    db.setSecret(ORG, ['org-secret-3']);
    db.versions.set(ORG, v + 3);
    registry.noteWrite(ORG, v + 3, 'k3', { ciphertext: 'enc:org-secret-3', plain: 'org-secret-3' });
    db.queries = [];
    const s2 = await registry.forTarget({ orgId: ORG }, undefined);
    expect(db.queries.filter((q) => q.includes('FROM configs'))).toHaveLength(1);
    expect(s2.scrub('org-secret-3')).toBe('[REDACTED]');
  });

  describe('under a burst of secret writes', () => {
    const orgLoads = () => db.queries.filter((q) => q.startsWith("SELECT 'c' AS kind")).length;
    let open: () => void;
    beforeEach(async () => {
      await registry.forTarget({ orgId: ORG }, undefined);
      db.gate = new Promise((r) => (open = r));
      db.queries = [];
    });

    it('serves every request a load covers with that one load (and one matcher)', async () => {
      const pending: Promise<unknown>[] = [];
      for (let i = 2; i <= 6; i++) {
        db.setSecret(ORG, [`org-secret-${i}`]);
        pending.push(registry.forTarget({ orgId: ORG }, undefined));
        await new Promise((r) => setImmediate(r));
      }
      open();
      const scrubbers = await Promise.all(pending);
      expect(orgLoads()).toBe(1);
      expect(new Set(scrubbers).size).toBe(1);
      expect((scrubbers[4] as { scrub(t: string): string }).scrub('org-secret-6')).toBe('[REDACTED]');
    });

    it('gives a request whose write came after a load’s snapshot the next load, shared', async () => {
      db.snapshotBeforeGate = true;
      db.setSecret(ORG, ['org-secret-2']);
      const first = registry.forTarget({ orgId: ORG }, undefined);
      await new Promise((r) => setImmediate(r));
      // Committed after the first load read its snapshot: the first load cannot cover these.
      db.setSecret(ORG, ['org-secret-3']);
      const later = [registry.forTarget({ orgId: ORG }, undefined), registry.forTarget({ orgId: ORG }, undefined)];
      await new Promise((r) => setImmediate(r));
      const opened = open;
      db.gate = null;
      opened();
      const [a, b, c] = (await Promise.all([first, ...later])) as { scrub(t: string): string }[];
      // Every request gets the secrets as of a snapshot at least as new as its own version.
      expect(a.scrub('org-secret-2')).toBe('[REDACTED]');
      expect(b.scrub('org-secret-3')).toBe('[REDACTED]');
      expect(c.scrub('org-secret-3')).toBe('[REDACTED]');
      expect(orgLoads()).toBe(2);
    });
  });

  it('adds a named execution’s dynamic secrets, keyed by their count, only for its own org', async () => {
    db.executions.set(EXEC, ORG);
    db.executionSecrets.push({ executionId: EXEC, ciphertext: 'enc:"dynamic-one"' });
    const s1 = await registry.forTarget({ orgId: ORG, executionId: EXEC }, undefined);
    expect(s1.scrub('dynamic-one')).toBe('[REDACTED]');
    db.queries = [];
    expect(await registry.forTarget({ orgId: ORG, executionId: EXEC }, undefined)).toBe(s1);
    expect(db.queries).toHaveLength(1);

    db.executionSecrets.push({ executionId: EXEC, ciphertext: 'enc:"dynamic-two"' });
    const s2 = await registry.forTarget({ orgId: ORG, executionId: EXEC }, undefined);
    expect(s2.scrub('dynamic-one dynamic-two')).toBe('[REDACTED] [REDACTED]');

    // Another org naming the execution gets none of its secrets.
    const foreign = await registry.forTarget({ orgId: OTHER, executionId: EXEC }, undefined);
    expect(foreign.scrub('dynamic-one')).toBe('dynamic-one');
    // A malformed id is ignored.
    const bad = await registry.forTarget({ orgId: ORG, executionId: 'nope' }, undefined);
    expect(bad.scrub('dynamic-one org-secret-1')).toBe('dynamic-one [REDACTED]');
  });

  it('scrubs an org-less request with every scope’s secrets, re-reading them only when the sum of versions moves', async () => {
    const all = await registry.forTarget({ orgId: null }, undefined);
    expect(all.scrub('org-secret-1 other-secret-1 global-secret-1')).toBe('[REDACTED] [REDACTED] [REDACTED]');
    db.queries = [];
    expect(await registry.forTarget({ orgId: null }, undefined)).toBe(all);
    expect(db.queries).toHaveLength(1);
    db.setSecret(OTHER, ['other-secret-2']);
    const next = await registry.forTarget({ orgId: null }, undefined);
    expect(next.scrub('other-secret-2')).toBe('[REDACTED]');
    await registry.settle();
    const rebuilt = await registry.forTarget({ orgId: null }, undefined);
    expect(rebuilt.scrub('other-secret-1 other-secret-2')).toBe('other-secret-1 [REDACTED]');
  });

  it('fails closed for a scope holding a secret no key decrypts (and for org-less targets), not for other orgs, until it is gone', async () => {
    db.configs.push({ scope: ORG, ciphertext: 'garbage' });
    db.versions.set(ORG, 9);
    await expect(registry.forTarget({ orgId: ORG }, undefined)).rejects.toMatchObject({ code: 'SECRETS_UNREADABLE' });
    await expect(registry.forTarget({ orgId: null }, undefined)).rejects.toMatchObject({ code: 'SECRETS_UNREADABLE' });
    expect((await registry.forTarget({ orgId: OTHER }, undefined)).isEmpty).toBe(false);
    db.configs = db.configs.filter((c) => c.ciphertext !== 'garbage');
    db.versions.set(ORG, 10);
    const s = await registry.forTarget({ orgId: ORG }, undefined);
    expect(s.scrub('org-secret-1')).toBe('[REDACTED]');
    await registry.forTarget({ orgId: null }, undefined);
  });

  it('remembers a resolution for the rest of the request, until the request forgets it', async () => {
    const c = ctx();
    const a = await registry.forTarget({ orgId: ORG }, c);
    db.queries = [];
    expect(await registry.forTarget({ orgId: ORG }, c)).toBe(a);
    expect(db.queries).toHaveLength(0);
    registry.forget(c);
    await registry.forTarget({ orgId: ORG }, c);
    expect(db.queries).toHaveLength(1);
  });

  it('uses the versions the request read with its data (no round trip), and asks again once the request forgets them', async () => {
    await registry.forTarget({ orgId: ORG }, undefined);
    db.setSecret(ORG, ['org-secret-2']);
    const c: RequestContext = ctx();
    registry.prime(c, { orgId: ORG, versions: [...db.versions].filter(([s]) => s === ORG || s === 'global').map(([scope, version]) => ({ scope, version })) });
    db.queries = [];
    const s = await registry.forTarget({ orgId: ORG }, c);
    // Only the reload of the org whose version moved; no version SELECT.
    expect(db.queries).toHaveLength(1);
    expect(db.queries[0]).toMatch(/FROM configs/);
    expect(s.scrub('org-secret-2 global-secret-1')).toBe('[REDACTED] [REDACTED]');

    // Versions read for another org, or a request naming an execution, are not used.
    const other: RequestContext = ctx();
    registry.prime(other, { orgId: ORG, versions: [] });
    db.queries = [];
    await registry.forTarget({ orgId: OTHER }, other);
    expect(db.queries[0]).toMatch(/^SELECT scope AS k, version AS v FROM secret_versions/);
    db.executions.set(EXEC, ORG);
    const withExecution: RequestContext = ctx();
    registry.prime(withExecution, { orgId: ORG, versions: [] });
    db.queries = [];
    await registry.forTarget({ orgId: ORG, executionId: EXEC }, withExecution);
    expect(db.queries[0]).toMatch(/^SELECT scope AS k, version AS v FROM secret_versions/);

    // A request that changed secrets forgets what it read: the next resolution asks the database.
    registry.forget(c);
    db.queries = [];
    await registry.forTarget({ orgId: ORG }, c);
    expect(db.queries[0]).toMatch(/^SELECT scope AS k, version AS v FROM secret_versions/);
  });

  it('does not remember a failed resolution', async () => {
    const c = ctx();
    db.failNext = true;
    await expect(registry.forTarget({ orgId: ORG }, c)).rejects.toThrow('connection lost');
    await expect(registry.forTarget({ orgId: ORG }, c)).resolves.toBeDefined();
  });

  it('scrubs log lines with every known secret, without a database round trip', async () => {
    expect(registry.scrubLogLine('{"msg":"org-secret-1"}')).toBe('{"msg":"org-secret-1"}');
    await registry.warm();
    db.queries = [];
    expect(registry.scrubLogLine('{"msg":"org-secret-1 other-secret-1"}')).toBe('{"msg":"[REDACTED] [REDACTED]"}');
    expect(db.queries).toHaveLength(0);
  });

  it('targets a request by its principal and context: the org, an org-less admin, or nothing when unauthenticated', () => {
    const admin = { id: 'a', name: 'a', role: 'admin' as const, orgId: null };
    const member = { id: 'm', name: 'm', role: 'member' as const, orgId: ORG };
    expect(registry.targetOf({ headers: {} })).toBeNull();
    expect(registry.targetOf({ headers: {}, user: member })).toEqual({ orgId: ORG, executionId: null });
    expect(registry.targetOf({ headers: { 'x-bifrost-execution': EXEC }, user: admin })).toEqual({ orgId: null, executionId: EXEC });
    expect(registry.targetOf({ headers: { 'x-bifrost-execution': 'junk' }, user: admin })).toEqual({ orgId: null, executionId: null });
    const c = { ...ctx(), principal: admin, orgId: OTHER, executionId: EXEC };
    expect(registry.targetOf({ headers: {}, context: c })).toEqual({ orgId: OTHER, executionId: EXEC });
  });
});

describe('LruMap', () => {
  it('forgets the least recently used entry beyond its capacity', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('b', 2);
    m.get('a');
    m.set('c', 3);
    expect(m.get('b')).toBeUndefined();
    expect(m.get('a')).toBe(1);
    expect(m.get('c')).toBe(3);
    expect(m.size).toBe(2);
  });
});
