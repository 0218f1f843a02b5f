// A minimal Nest app for comparing HTTP adapters on an authenticated read: a global guard hashes the
// bearer token (SHA-256) and looks it up in SQLite, the handler returns the principal. Run by
// adapters.bench.ts as `tsx test/bench/adapter-server.ts express|fastify PORT DBFILE`.
import 'reflect-metadata';
import { CanActivate, Controller, ExecutionContext, Get, Inject, Injectable, Module, Req, UnauthorizedException } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';

const [adapterName, port, dbFile] = process.argv.slice(2);
const db = new Database(dbFile);
const lookup = db.prepare('SELECT id, name, role, org_id AS orgId FROM tokens WHERE token_hash = ?');

@Injectable()
class BearerGuard implements CanActivate {
  canActivate(ctx: ExecutionContext): boolean {
    const req = ctx.switchToHttp().getRequest();
    const header: string | undefined = req.headers.authorization;
    const token = header?.startsWith('Bearer ') ? header.slice(7) : '';
    const row = lookup.get(createHash('sha256').update(token).digest('hex'));
    if (!row) throw new UnauthorizedException();
    req.user = row;
    return true;
  }
}

@Controller()
class MeController {
  @Get('api/me')
  me(@Req() req: { user: unknown }) {
    return req.user;
  }
}

@Module({ controllers: [MeController], providers: [{ provide: APP_GUARD, useClass: BearerGuard }] })
class BenchModule {}
void Inject;

async function main() {
  let app;
  if (adapterName === 'fastify') {
    const { FastifyAdapter } = await import('@nestjs/platform-fastify');
    app = await NestFactory.create(BenchModule, new FastifyAdapter(), { logger: false });
  } else {
    app = await NestFactory.create(BenchModule, { logger: false });
  }
  await app.listen(Number(port), '127.0.0.1');
  process.stdout.write('ready\n');
}
void main();
