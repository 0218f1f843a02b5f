import { Controller, Get, HttpStatus, Res } from '@nestjs/common';
import { ApiFoundResponse, ApiOkResponse, ApiOperation, ApiProduces, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Public } from '../auth/auth.decorators';
import { AppError } from '../common/errors';
import { SETTINGS_CSS, SETTINGS_HTML } from './page';

/**
 * Where the page's compiled script is: beside this file in the built service (dist/settings/web),
 * or the build's output when this runs from the sources (the tests).
 */
function scriptPath(): string | null {
  for (const dir of [join(__dirname, 'web'), join(__dirname, '..', '..', 'dist', 'settings', 'web')]) {
    const file = join(dir, 'app.js');
    if (existsSync(file)) return file;
  }
  return null;
}

/** A static text answer; no-store for the page, no-cache (revalidated) for its assets. */
function sendText(reply: FastifyReply, type: string, cache: 'no-store' | 'no-cache', body: string): void {
  void reply.header('Content-Type', `${type}; charset=utf-8`).header('Cache-Control', cache).send(body);
}

/**
 * Settings → Configuration, the admins' page: static files only. The page signs in with a token
 * pasted into it and reads everything through the REST API under that token's role, so nothing
 * here needs authentication or knows any data.
 */
@ApiTags('Settings page')
@Controller('settings')
export class SettingsController {
  private script: string | null | undefined;

  @Get()
  @Public()
  @ApiOperation({ summary: 'Redirects to the Settings → Configuration page', description: 'No token. 302 to `/settings/configuration`.' })
  @ApiFoundResponse({ description: 'Location: /settings/configuration' })
  redirect(@Res() reply: FastifyReply): void {
    void reply.redirect('/settings/configuration', 302);
  }

  @Get('configuration')
  @Public()
  @ApiOperation({
    summary: 'The Settings → Configuration page (HTML)',
    description: 'No token to load it. The page signs in with a pasted token (kept in its memory only) and lists, adds, edits and deletes configs through this API under that token’s role.',
  })
  @ApiProduces('text/html')
  @ApiOkResponse({ description: 'The page', content: { 'text/html': { schema: { type: 'string' } } } })
  page(@Res() reply: FastifyReply): void {
    sendText(reply, 'text/html', 'no-store', SETTINGS_HTML);
  }

  @Get('assets/app.css')
  @Public()
  @ApiOperation({ summary: 'The settings page’s style sheet', description: 'No token.' })
  @ApiProduces('text/css')
  @ApiOkResponse({ description: 'CSS', content: { 'text/css': { schema: { type: 'string' } } } })
  css(@Res() reply: FastifyReply): void {
    sendText(reply, 'text/css', 'no-cache', SETTINGS_CSS);
  }

  @Get('assets/app.js')
  @Public()
  @ApiOperation({ summary: 'The settings page’s script', description: 'No token. Compiled from src/settings/web/app.ts by `npm run build`.' })
  @ApiProduces('text/javascript')
  @ApiOkResponse({ description: 'JavaScript', content: { 'text/javascript': { schema: { type: 'string' } } } })
  @ApiServiceUnavailableResponse({ description: '`SETTINGS_NOT_BUILT`: the service runs from sources that were never built (`npm run build`)' })
  js(@Res() reply: FastifyReply): void {
    if (this.script === undefined) {
      const file = scriptPath();
      this.script = file ? readFileSync(file, 'utf8') : null;
    }
    if (this.script === null) throw new AppError(HttpStatus.SERVICE_UNAVAILABLE, 'SETTINGS_NOT_BUILT', 'The settings page was not built: run npm run build');
    sendText(reply, 'text/javascript', 'no-cache', this.script);
  }
}
