import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { getDataSourceToken } from '@nestjs/typeorm';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp, openApiDocumentOf } from '../../src/bootstrap';
import { AppEnv, loadEnv } from '../../src/common/env';
import { useDocument } from './openapi-check';

/** The database the e2e suite runs on: SQLite by default, MySQL/MariaDB when DATABASE_URL says so. */
export const TEST_DATABASE_URL = process.env.DATABASE_URL ?? '';
export const onMysql = TEST_DATABASE_URL.startsWith('mysql://');

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A fresh, empty database: a temp SQLite file, or a new MySQL database beside DATABASE_URL's. */
export async function freshDatabase(): Promise<TestDatabase> {
  if (!onMysql) {
    const dir = mkdtempSync(join(tmpdir(), 'bifrost-e2e-'));
    return { url: `sqlite:${join(dir, 'test.sqlite')}`, drop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  const mysql = await import('mysql2/promise');
  const name = `bifrost_e2e_${randomBytes(6).toString('hex')}`;
  const admin = new URL(TEST_DATABASE_URL);
  const conn = await mysql.createConnection({ host: admin.hostname, port: Number(admin.port || 3306), user: decodeURIComponent(admin.username), password: decodeURIComponent(admin.password) });
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await conn.end();
  const url = new URL(TEST_DATABASE_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const c = await mysql.createConnection({ host: admin.hostname, port: Number(admin.port || 3306), user: decodeURIComponent(admin.username), password: decodeURIComponent(admin.password) });
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

export const TEST_SECRET_KEY = 'e2e-test-secret-key-0123456789-abcdefghijklmnop';

export interface TestApp {
  app: NestFastifyApplication;
  env: AppEnv;
  dataSource: DataSource;
  db: TestDatabase;
  adminToken: string;
  http: () => ReturnType<typeof request>;
  /** Base URL once listen() was asked for. */
  baseUrl: string;
  logLines: string[];
  close(): Promise<void>;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Reuse a database (e.g. a second instance on the same MySQL). */
  db?: TestDatabase;
  listen?: boolean;
}

/** Builds and starts the real application on a fresh database, with a bootstrap admin token. */
export async function startApp(options: StartOptions = {}): Promise<TestApp> {
  const db = options.db ?? (await freshDatabase());
  const adminToken = 'bft_' + randomBytes(32).toString('base64url');
  const env = loadEnv({
    NODE_ENV: 'test',
    DATABASE_URL: db.url,
    BIFROST_SECRET_KEY: TEST_SECRET_KEY,
    BIFROST_BOOTSTRAP_TOKEN: adminToken,
    LOG_LEVEL: 'info',
    ...options.env,
  });
  const logLines: string[] = [];
  const app = await createApp(env, { logWrite: (line) => logLines.push(line) });
  // Every answer a spec gets through supertest is checked against this document (openapi-setup.ts).
  useDocument(openApiDocumentOf(app));
  await app.init();
  await app.getHttpAdapter().getInstance().ready();
  let baseUrl = '';
  if (options.listen) {
    await app.listen(0, '127.0.0.1');
    baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  }
  const dataSource = app.get<DataSource>(getDataSourceToken());
  return {
    app,
    env,
    dataSource,
    db,
    adminToken,
    baseUrl,
    logLines,
    http: () => request(app.getHttpServer()),
    close: async () => {
      await app.close();
      if (!options.db) await db.drop();
    },
  };
}

/** Convenience: an org and tokens of every role in it. */
export async function seedOrg(t: TestApp, name: string) {
  const auth = { Authorization: `Bearer ${t.adminToken}` };
  const org = (await t.http().post('/api/orgs').set(auth).send({ name }).expect(201)).body as { id: string; name: string };
  const token = async (role: string, orgId: string | undefined = org.id) =>
    (await t.http().post('/api/tokens').set(auth).send({ name: `${name}-${role}`, role, ...(orgId ? { orgId } : {}) }).expect(201)).body.token as string;
  return {
    org,
    orgAdmin: await token('org_admin'),
    member: await token('member'),
    service: await token('service'),
  };
}

export const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
