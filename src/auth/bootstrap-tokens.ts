import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_ENV } from '../common/app-env.provider';
import type { AppEnv } from '../common/env';
import { generateToken, hashToken, TokensService } from './tokens.service';

/**
 * The server's start-up tokens (AppModule provides it; the CLI, which shares AuthModule, does not):
 * the bootstrap token, or a development start's first admin token.
 */
@Injectable()
export class BootstrapTokens implements OnApplicationBootstrap {
  private readonly logger = new Logger('Tokens');

  constructor(
    private readonly tokens: TokensService,
    @Inject(APP_ENV) private readonly env: AppEnv,
  ) {}

  /**
   * BIFROST_BOOTSTRAP_TOKEN creates an admin token with exactly that value once: when no row with
   * its hash exists. A row that exists is left as it is: a revoked bootstrap token stays revoked (it
   * leaked, and the variable lingers in compose files and CI settings), and the service says once
   * that it can be removed from the environment. Without it, a development start on an empty
   * database creates one admin token and prints it once. Both creations are audited as
   * `token.create` by the `bootstrap` actor.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.env.bootstrapToken) {
      const hash = hashToken(this.env.bootstrapToken);
      const outcome = await this.tokens.createOnce(hash, 'bootstrap', 'BIFROST_BOOTSTRAP_TOKEN');
      if (outcome === 'created') this.logger.log('Bootstrap admin token from BIFROST_BOOTSTRAP_TOKEN registered');
      else if (outcome === 'revoked') {
        this.logger.warn('The token in BIFROST_BOOTSTRAP_TOKEN was revoked and stays revoked; remove BIFROST_BOOTSTRAP_TOKEN from the environment');
      }
      return;
    }
    if (this.env.nodeEnv !== 'development') return;
    if ((await this.tokens.countTokens()) > 0) return;
    const token = generateToken();
    if ((await this.tokens.createOnce(hashToken(token), 'first-admin', 'first start', true)) !== 'created') return;
    // Printed once, straight to the terminal rather than the JSON log, so it is not kept in log storage.
    process.stdout.write(
      `\n  First start on an empty database: an admin token was created. It is shown only now:\n\n    ${token}\n\n` +
        `  Open Swagger UI at http://localhost:${this.env.port}/docs, press Authorize and paste it.\n\n`,
    );
  }
}
