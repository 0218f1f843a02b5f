import { DataSource } from 'typeorm';
import { ENTITIES } from '../app.module';
import { AuditService } from '../audit/audit.service';
import { dataSourceOptions } from '../common/database';
import { decodeBound } from './binding';
import { CryptoService } from './crypto.service';
import { KeyRotationService } from './key-rotation.service';
import { Keyring } from './keyring';
import { KeyMismatchError, StrandedSecretsError, verifyStoredKeys } from './startup-key-check';

const OLD = 'rotation-spec-old-key-0123456789abcdefgh';
const NEW = 'rotation-spec-new-key-0123456789abcdefgh';

async function database(): Promise<DataSource> {
  const ds = new DataSource(dataSourceOptions({ kind: 'sqlite', url: 'sqlite::memory:', sqlitePath: ':memory:' }, ENTITIES));
  await ds.initialize();
  await ds.runMigrations();
  return ds;
}

const scopeOf = (i: number) => (i % 2 ? 'global' : '00000000-0000-4000-8000-000000000001');

/** Secrets in the legacy form (Fernet of the value), as Bifrost and earlier versions stored them. */
async function insertSecrets(ds: DataSource, crypto: CryptoService, n: number): Promise<void> {
  const now = new Date().toISOString().replace('T', ' ').replace('Z', '');
  for (let i = 0; i < n; i++) {
    await ds.query('INSERT INTO configs (scope, `key`, type, value, ciphertext, has_value, description, updated_by, created_at, updated_at) VALUES (?, ?, ?, NULL, ?, 1, NULL, ?, ?, ?)', [
      scopeOf(i),
      `k${String(i).padStart(3, '0')}`,
      'secret',
      crypto.encryptString(`value-${i}`),
      'spec',
      now,
      now,
    ]);
  }
}

describe('KeyRotationService', () => {
  let ds: DataSource;
  const oldCrypto = new CryptoService({ secretKey: OLD, previousSecretKeys: [] });
  const crypto = new CryptoService({ secretKey: NEW, previousSecretKeys: [OLD] });

  beforeEach(async () => {
    ds = await database();
    await insertSecrets(ds, oldCrypto, 25);
  });
  afterEach(async () => ds.destroy());

  it('re-encrypts in batches, resumes where a bounded run stopped, and leaves only the new key needed', async () => {
    const service = new KeyRotationService(ds, crypto, new AuditService(ds));
    expect(await service.rotate({ batchSize: 10, maxBatches: 2 })).toMatchObject({ reencrypted: 20, alreadyCurrent: 0, batches: 2, complete: false });
    expect(await service.rotate({ batchSize: 10 })).toMatchObject({ reencrypted: 5, alreadyCurrent: 20, failed: 0, complete: true });
    const onlyNew = Keyring.fromSecrets(NEW);
    const rows: { key: string; ciphertext: string }[] = await ds.query('SELECT `key`, ciphertext FROM configs');
    // Each one bound to its own row now.
    for (const r of rows) {
      const i = Number(r.key.slice(1));
      expect(decodeBound(onlyNew.decrypt(r.ciphertext).toString())).toEqual({ binding: { scope: scopeOf(i), key: r.key }, value: `value-${i}` });
    }
    const audit: { action: string; reason: string }[] = await ds.query("SELECT action, reason FROM audit_entries WHERE action = 'key.rotate'");
    expect(audit.length).toBeGreaterThanOrEqual(4);
    expect(audit.map((a) => a.reason).join(' ')).not.toMatch(/value-/);
  });

  it('lets a write that lands between the read and the update win (compare-and-set)', async () => {
    // Someone writes k000 after the batch was read and before it is updated (synchronously, on the
    // same SQLite connection, so the moment is exact).
    const sqlite = (ds.driver as unknown as { databaseConnection: { prepare(sql: string): { run(...args: unknown[]): unknown } } }).databaseConnection;
    let raced = false;
    class Racing extends CryptoService {
      rebind(token: string, binding: { scope: string; key: string }): string {
        if (!raced) {
          raced = true;
          sqlite.prepare('UPDATE configs SET ciphertext = ? WHERE `key` = ?').run(crypto.encryptBound({ scope: scopeOf(0), key: 'k000' }, 'written concurrently'), 'k000');
        }
        return super.rebind(token, binding);
      }
    }
    const racing = new Racing({ secretKey: NEW, previousSecretKeys: [OLD] });
    const report = await new KeyRotationService(ds, racing, new AuditService(ds)).rotate({ batchSize: 50 });
    expect(report).toMatchObject({ reencrypted: 24, changedConcurrently: 1, failed: 0 });
    const [row] = await ds.query('SELECT ciphertext FROM configs WHERE `key` = ?', ['k000']);
    expect(crypto.decryptString(row.ciphertext)).toBe('written concurrently');
  });

  it('counts and names what no key opens, leaving it as it is', async () => {
    const stranger = new CryptoService({ secretKey: 'a-key-nobody-configured-0123456789abcdef', previousSecretKeys: [] });
    await ds.query('UPDATE configs SET ciphertext = ? WHERE `key` = ?', [stranger.encryptString('lost'), 'k003']);
    const report = await new KeyRotationService(ds, crypto, new AuditService(ds)).rotate();
    expect(report).toMatchObject({ reencrypted: 24, failed: 1, failures: [{ table: 'configs', scope: 'global', key: 'k003' }] });
  });

  it('binds legacy tokens to their rows even when the key did not change, and refuses to bind a copied row', async () => {
    const same = new CryptoService({ secretKey: OLD, previousSecretKeys: [] });
    // k002's bound token copied over k004 (same scope, another key).
    await ds.query('UPDATE configs SET ciphertext = ? WHERE `key` = ?', [same.encryptBound({ scope: scopeOf(2), key: 'k002' }, 'value-2'), 'k002']);
    const [k002] = await ds.query('SELECT ciphertext FROM configs WHERE `key` = ?', ['k002']);
    await ds.query('UPDATE configs SET ciphertext = ? WHERE `key` = ?', [k002.ciphertext, 'k004']);
    const service = new KeyRotationService(ds, same, new AuditService(ds));
    expect(await service.rotate()).toMatchObject({ reencrypted: 23, alreadyCurrent: 1, failed: 1, failures: [{ table: 'configs', scope: scopeOf(4), key: 'k004' }] });
    const [k004] = await ds.query('SELECT ciphertext FROM configs WHERE `key` = ?', ['k004']);
    expect(k004.ciphertext).toBe(k002.ciphertext);
    expect(await service.rotate()).toMatchObject({ reencrypted: 0, alreadyCurrent: 24, failed: 1 });
    const [k005] = await ds.query('SELECT ciphertext FROM configs WHERE `key` = ?', ['k005']);
    expect(same.decryptBound(k005.ciphertext, { scope: scopeOf(5), key: 'k005' })).toBe('value-5');
  });
});

describe('verifyStoredKeys', () => {
  let ds: DataSource;
  beforeEach(async () => (ds = await database()));
  afterEach(async () => ds.destroy());
  const keyIds = async () => (await ds.query('SELECT key_id AS k FROM configs ORDER BY `key`')).map((r: { k: string | null }) => r.k);

  it('passes on an empty database and when a previous key opens the secrets, recording once which key each is under', async () => {
    const newOnly = new CryptoService({ secretKey: NEW, previousSecretKeys: [] });
    const both = new CryptoService({ secretKey: NEW, previousSecretKeys: [OLD] });
    expect(await verifyStoredKeys(ds, newOnly)).toMatchObject({ total: 0, current: 0, previous: 0, unknown: 0 });
    await insertSecrets(ds, new CryptoService({ secretKey: OLD, previousSecretKeys: [] }), 3);
    expect(await keyIds()).toEqual([null, null, null]);
    expect(await verifyStoredKeys(ds, both)).toMatchObject({ total: 3, current: 0, previous: 3, unknown: 0, labelled: 3 });
    expect(await keyIds()).toEqual([both.keyIds[1], both.keyIds[1], both.keyIds[1]]);
    // The next start reads the key ids, it opens nothing again.
    expect(await verifyStoredKeys(ds, both)).toMatchObject({ total: 3, previous: 3, labelled: 0 });
  });

  it('throws a KeyMismatchError naming BIFROST_SECRET_KEY when no key opens any of them', async () => {
    await insertSecrets(ds, new CryptoService({ secretKey: OLD, previousSecretKeys: [] }), 8);
    const check = verifyStoredKeys(ds, new CryptoService({ secretKey: NEW, previousSecretKeys: [] }));
    await expect(check).rejects.toThrow(KeyMismatchError);
    await expect(verifyStoredKeys(ds, new CryptoService({ secretKey: NEW, previousSecretKeys: [] }))).rejects.toThrow(/BIFROST_SECRET_KEY .*none of 8 opens/);
  });

  it('refuses, in one line naming the count and the missing key, secrets stranded by an unfinished rotation whose old key was dropped', async () => {
    const old = new CryptoService({ secretKey: OLD, previousSecretKeys: [] });
    const both = new CryptoService({ secretKey: NEW, previousSecretKeys: [OLD] });
    await insertSecrets(ds, old, 25);
    await verifyStoredKeys(ds, old); // a start under the old key: every row says so
    // The rotation was stopped after 2 batches of 10 (as if killed): 5 rows are still under OLD.
    expect(await new KeyRotationService(ds, both, new AuditService(ds)).rotate({ batchSize: 10, maxBatches: 2 })).toMatchObject({ reencrypted: 20, complete: false });
    expect(await verifyStoredKeys(ds, both)).toMatchObject({ total: 25, current: 20, previous: 5, unknown: 0, labelled: 0 });
    const newOnly = new CryptoService({ secretKey: NEW, previousSecretKeys: [] });
    const refused = verifyStoredKeys(ds, newOnly);
    await expect(refused).rejects.toThrow(StrandedSecretsError);
    const err = (await refused.catch((e: Error) => e)) as StrandedSecretsError;
    expect(err.message).not.toContain('\n');
    expect(err.message).toContain(`5 of 25 stored secrets are encrypted with a key that is not configured (key id ${old.currentKeyId})`);
    expect(err.message).toContain('BIFROST_SECRET_KEY_PREVIOUS');
    expect(err.census.stranded).toHaveLength(5);
    // Rows never labelled (from before key ids) that no key opens are stranded too.
    await ds.query('UPDATE configs SET key_id = NULL');
    await expect(verifyStoredKeys(ds, newOnly)).rejects.toThrow(/5 of 25 stored secrets .*not configured:/);
    // The rotation finished with the old key back: nothing is stranded, every row under NEW.
    expect(await new KeyRotationService(ds, both, new AuditService(ds)).rotate({ batchSize: 10 })).toMatchObject({ reencrypted: 5, alreadyCurrent: 20, failed: 0 });
    expect(await verifyStoredKeys(ds, newOnly)).toMatchObject({ total: 25, current: 25, unknown: 0 });
    expect(new Set(await keyIds())).toEqual(new Set([newOnly.currentKeyId]));
  });
});
