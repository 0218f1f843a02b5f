import { Controller, Get, HttpCode, Inject, Post, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiExtraModels, ApiOkResponse, ApiOperation, ApiProduces, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import { ApiErrors } from '../common/openapi';
import type { Principal } from '../auth/roles';
import { BifrostExportDto, BundleDto, ExportQueryDto, ImportQueryDto, ImportResultDto, WrappedBundleDto } from './dto/export.dto';
import { APP_ENV } from '../common/app-env.provider';
import type { AppEnv } from '../common/env';
import { ExportSlots, exportStream } from './export-stream';
import { ExportService } from './export.service';
import { ImportSlots, spoolBody } from './import-body';
import { ImportService, OnConflict } from './import.service';

@ApiTags('Export and import')
@ApiExtraModels(BundleDto, WrappedBundleDto, BifrostExportDto)
@Controller('api')
export class ExportController {
  constructor(
    private readonly exports: ExportService,
    private readonly imports: ImportService,
    private readonly slots: ImportSlots,
    private readonly exportSlots: ExportSlots,
    @Inject(APP_ENV) private readonly env: AppEnv,
  ) {}

  @Get('export')
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'Export configs as a bundle (streamed)',
    description:
      'Portable (the default): no ids, no timestamps but the bundle’s own `exportedAt`, no `updatedBy`, orgs by name, every secret’s `value` null — ' +
      'import it elsewhere and set the secrets listed in `secretsNeedingValue`. Its descriptions and values are scrubbed value by value (a string keeps ' +
      'its text around `[REDACTED]`; a number whose digits hold a secret becomes the string `[REDACTED]`); scopes, keys and types are written as they are. ' +
      '`portable=false` (admin only, else 403 `BACKUP_ADMIN_ONLY`): a backup for this same deployment, every non-secret value exactly as stored and each ' +
      'secret carrying its Fernet token as `encryptedValue`, so restoring it gives back exactly what was there. Every bundle is valid JSON. ' +
      'admin exports any scope; org_admin its own org only. The response is written as it is read, a page of configs at a time; ' +
      'one `config.export` audit entry is committed before the first byte.',
  })
  @ApiProduces('application/json')
  @ApiOkResponse({ type: BundleDto })
  @ApiErrors({
    400: '`INVALID_SCOPE`, `VALIDATION_FAILED` (a query parameter that is not allowed, or `portable` not true/false)',
    403: '`ORG_FORBIDDEN` (org_admin, another scope), `BACKUP_ADMIN_ONLY` (org_admin, portable=false)',
    429: '`TOO_MANY_EXPORTS`: this token already has 2 exports in flight (Retry-After)',
    503: '`EXPORTS_BUSY`: 4 exports are in flight on this instance (Retry-After)',
  })
  async export(@CurrentPrincipal() principal: Principal, @Query() query: ExportQueryDto, @Res() reply: FastifyReply): Promise<void> {
    const portable = query.portable !== 'false';
    // A slot first (ExportSlots): on MySQL an export holds a pool connection while its client reads.
    const release = this.exportSlots.acquire(principal.id);
    // Streamed, so the global interceptor never sees it: a portable bundle is scrubbed value by
    // value inside ExportService (as for the CLI). Scope checked and export audited before any
    // header is sent: an error here gets the usual error body.
    let chunks: AsyncGenerator<string, { configs: number }>;
    try {
      chunks = await this.exports.open(principal, { portable, scope: query.scope });
    } catch (err) {
      release();
      throw err;
    }
    const day = new Date().toISOString().slice(0, 10);
    // A failure after the first byte can only cut the connection; the bundle is then not valid JSON,
    // so it cannot be mistaken for a whole one.
    await reply
      .status(200)
      .header('Content-Type', 'application/json; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="bifrost-config-${portable ? 'portable' : 'backup'}-${day}.json"`)
      .header('Cache-Control', 'no-store')
      .send(exportStream(chunks, this.env.exportIdleMs, release));
  }

  @Post('import')
  @HttpCode(200)
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'Import a bundle, all or nothing',
    description:
      'The body is a bundle as GET /api/export writes it, or Bifrost’s configs export (`bifrost_export_version` 1.0), either bare or wrapped as ' +
      '`{"bundle": ..., "sourceSecretKey": "..."}` when its secrets were encrypted by another deployment (their values are then encrypted again ' +
      'with this deployment’s key). Every row is checked before anything is written; any problem answers 400 `INVALID_BUNDLE` whose `details` ' +
      'list the problems with their row indexes (the first 1,000 by row; the message gives the total), and nothing is written. A null secret never overwrites an existing value; a new one is created ' +
      'without a value and listed in `secretsNeedingValue`. The body is read as a stream (up to 512 MiB), not through the 1 MiB JSON limit. ' +
      'Audited: one `config.import` entry, plus a `config.create`/`config.update` entry (reason `import`) per config written.',
  })
  @ApiBody({
    description: 'A bundle, a Bifrost configs export, or either wrapped with sourceSecretKey',
    schema: { oneOf: [{ $ref: getSchemaPath(BundleDto) }, { $ref: getSchemaPath(WrappedBundleDto) }, { $ref: getSchemaPath(BifrostExportDto) }] },
  })
  @ApiOkResponse({ type: ImportResultDto, description: 'Imported (or, for a dry run, what would be)' })
  @ApiErrors(
    {
      400: '`INVALID_BUNDLE` (the first 1,000 problems by row in `details`, each `{row, key?, code, message}`, a `LOOKS_LIKE_A_SECRET` row also with `scope` and `detector`; the message gives the total), `REQUEST_ABORTED`',
      403: '`ORG_FORBIDDEN`: an org_admin importing outside its org, or asking for `createOrgs`',
      408: '`IMPORT_BODY_STALLED`: no part of the body arrived for 30 s',
      413: '`PAYLOAD_TOO_LARGE` over 512 MiB (an import is not held to the 1 MiB limit)',
      429: '`TOO_MANY_IMPORTS`: this token already has 2 imports in flight (Retry-After)',
      503: '`IMPORTS_BUSY`: 4 imports are in flight on this instance (Retry-After)',
    },
    { body: true },
  )
  async import(
    @CurrentPrincipal() principal: Principal,
    @Query() query: ImportQueryDto,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ImportResultDto> {
    // A slot before the first byte is read, given back once the spool file is gone (ImportSlots).
    let release: () => void;
    try {
      release = this.slots.acquire(principal.id);
    } catch (err) {
      // The body is left unread: close the connection rather than read it to its end.
      reply.header('Connection', 'close');
      throw err;
    }
    try {
      // The JSON body parser hands this route the raw request stream (src/common/json-body.ts).
      const body = await spoolBody(req.body as AsyncIterable<Buffer> | undefined, req.headers);
      try {
        return await this.imports.import(principal, body.source, {
          dryRun: query.dryRun === 'true',
          onConflict: (query.onConflict ?? 'skip') as OnConflict,
          createOrgs: query.createOrgs === 'true',
          allowTypeChange: query.allowTypeChange === 'true',
          allowSecretLikeValues: query.allowSecretLikeValues === 'true',
        });
      } finally {
        await body.dispose();
      }
    } finally {
      release();
    }
  }
}
