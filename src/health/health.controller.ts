import { Controller, Get, Res } from '@nestjs/common';
import { ApiExtraModels, ApiInternalServerErrorResponse, ApiOkResponse, ApiOperation, ApiProperty, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { isSqlite } from '../common/dialect';
import { ErrorDto } from '../common/openapi';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import { DataSource } from 'typeorm';
import { Public } from '../auth/auth.decorators';

class HealthDto {
  @ApiProperty({ enum: ['ok', 'error'] }) status: 'ok' | 'error';
  @ApiProperty({
    enum: ['up', 'busy', 'down'],
    description: '`busy`: the database answers, but no connection of the service’s pool was free within 2 s (overload); `down`: the database does not answer',
  })
  database: 'up' | 'busy' | 'down';
}

class LiveDto {
  @ApiProperty({ enum: ['ok'] }) status: 'ok';
}

class ReadyDto extends HealthDto {
  @ApiProperty({ enum: ['applied', 'pending', 'unknown'], description: 'Whether every migration of this version is applied (`unknown` while the database is not reachable)' })
  migrations: 'applied' | 'pending' | 'unknown';
  @ApiProperty({ enum: ['checked'], description: 'The start-up key check passed (the service does not start otherwise)' })
  keys: 'checked';
}

/** How long the health check waits for the database, each way. */
const PROBE_MS = 2000;

/** What mysql2 offers for one connection outside the pool. */
interface MysqlModule {
  createConnection(options: { uri: string; connectTimeout: number }): {
    query(sql: string, cb: (err: unknown) => void): void;
    on(event: 'error', listener: (err: unknown) => void): void;
    destroy(): void;
  };
}

function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

@ApiTags('Health')
@ApiExtraModels(ErrorDto)
@Controller('health')
export class HealthController {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  @Get()
  @Public()
  @ApiOperation({
    summary: 'Liveness and readiness: is the database reachable, and can the service get a connection to it?',
    description: 'No token. 503 with `database: "down"` when the database does not answer within 2 s, `"busy"` when it answers but no pool connection came free within 2 s.',
  })
  @ApiOkResponse({ type: HealthDto })
  @ApiServiceUnavailableResponse({ type: HealthDto, description: 'The database is down, or the service’s connection pool is full' })
  @ApiInternalServerErrorResponse({ type: ErrorDto, description: '`INTERNAL_ERROR`' })
  async check(@Res({ passthrough: true }) res: FastifyReply): Promise<HealthDto> {
    const database = await this.probe();
    if (database !== 'up') res.status(503);
    return { status: database === 'up' ? 'ok' : 'error', database };
  }

  @Get('live')
  @Public()
  @ApiOperation({
    summary: 'Liveness: the process answers',
    description: 'No token, no database: 200 as long as the process serves requests. For a liveness probe (a restart cannot mend a database outage, so this one does not look at it).',
  })
  @ApiOkResponse({ type: LiveDto })
  @ApiInternalServerErrorResponse({ type: ErrorDto, description: '`INTERNAL_ERROR`' })
  live(): LiveDto {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({
    summary: 'Readiness: should this instance get traffic?',
    description:
      'No token. 200 when the database answers through the service’s pool and every migration is applied (and the start-up key check passed, without which the service does not run); ' +
      'otherwise 503 with what is wrong. For a readiness probe, a load balancer and the Docker health check.',
  })
  @ApiOkResponse({ type: ReadyDto })
  @ApiServiceUnavailableResponse({ type: ReadyDto, description: 'The database is down or busy, or migrations are pending' })
  @ApiInternalServerErrorResponse({ type: ErrorDto, description: '`INTERNAL_ERROR`' })
  async ready(@Res({ passthrough: true }) res: FastifyReply): Promise<ReadyDto> {
    const database = await this.probe();
    let migrations: ReadyDto['migrations'] = 'unknown';
    if (database === 'up') {
      try {
        migrations = (await within(this.dataSource.showMigrations(), PROBE_MS)) ? 'pending' : 'applied';
      } catch {
        migrations = 'unknown';
      }
    }
    const ok = database === 'up' && migrations === 'applied';
    if (!ok) res.status(503);
    return { status: ok ? 'ok' : 'error', database, migrations, keys: 'checked' };
  }

  /**
   * `SELECT 1` through the service's own pool. When that fails or takes over PROBE_MS on MySQL, one
   * connection of its own, outside the pool, asks again: an answer means the database is up and
   * the pool is full (`busy`), none that it is `down`.
   */
  private async probe(): Promise<HealthDto['database']> {
    try {
      await within(this.dataSource.query('SELECT 1'), PROBE_MS);
      return 'up';
    } catch {
      const url = (this.dataSource.options as { url?: string }).url;
      if (isSqlite(this.dataSource) || !url) return 'down';
      return (await this.answersOutsidePool(url)) ? 'busy' : 'down';
    }
  }

  private async answersOutsidePool(uri: string): Promise<boolean> {
    const mysql = (this.dataSource.driver as unknown as { mysql: MysqlModule }).mysql;
    let conn: ReturnType<MysqlModule['createConnection']> | undefined;
    try {
      conn = mysql.createConnection({ uri, connectTimeout: PROBE_MS });
      conn.on('error', () => undefined);
      const c = conn;
      await within(new Promise<void>((resolve, reject) => c.query('SELECT 1', (err) => (err ? reject(err) : resolve()))), PROBE_MS);
      return true;
    } catch {
      return false;
    } finally {
      conn?.destroy();
    }
  }
}
