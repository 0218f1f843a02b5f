import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CryptoService } from './crypto.service';

/** The configured keys open none of the stored secrets: the service must not start. */
export class KeyMismatchError extends Error {
  constructor(sampled: number) {
    super(
      `BIFROST_SECRET_KEY does not decrypt the stored secrets (none of ${sampled} sampled opens with it or with BIFROST_SECRET_KEY_PREVIOUS). ` +
        'Start with the key they were encrypted with, or keep that key in BIFROST_SECRET_KEY_PREVIOUS and run `bifrost rotate-key`.',
    );
    this.name = 'KeyMismatchError';
  }
}

export interface KeyCheckResult {
  sampled: number;
  decrypted: number;
}

/** How many of the most recently written secrets are tried. */
const SAMPLE = 5;

/**
 * Tries the configured keys on a few stored secrets (the most recently written configs and
 * execution secrets). Throws KeyMismatchError when secrets exist and not one of them decrypts;
 * a partial failure is only returned, for the caller to warn about.
 */
export async function verifyStoredKeys(dataSource: DataSource, crypto: CryptoService): Promise<KeyCheckResult> {
  const tokens: string[] = [];
  const configs: { ciphertext: string }[] = await dataSource.query(`SELECT ciphertext FROM configs WHERE ciphertext IS NOT NULL ORDER BY updated_at DESC LIMIT ${SAMPLE}`);
  tokens.push(...configs.map((r) => r.ciphertext));
  try {
    const dynamic: { ciphertext: string }[] = await dataSource.query(`SELECT ciphertext FROM execution_secrets ORDER BY id DESC LIMIT ${SAMPLE}`);
    tokens.push(...dynamic.map((r) => r.ciphertext));
  } catch {
    // No executions table in this schema: nothing to check there.
  }
  let decrypted = 0;
  for (const token of tokens) {
    try {
      crypto.decryptString(token);
      decrypted++;
    } catch {
      // counted below
    }
  }
  if (tokens.length > 0 && decrypted === 0) throw new KeyMismatchError(tokens.length);
  return { sampled: tokens.length, decrypted };
}

/**
 * At start-up (after migrations), refuses to start a service whose keys decrypt nothing that is
 * stored, naming BIFROST_SECRET_KEY, rather than failing on every secret read later.
 */
@Injectable()
export class StartupKeyCheck implements OnApplicationBootstrap {
  private readonly logger = new Logger('KeyCheck');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    try {
      const { sampled, decrypted } = await verifyStoredKeys(this.dataSource, this.crypto);
      if (decrypted < sampled) {
        this.logger.warn({ msg: 'some stored secrets do not decrypt with the configured keys (check BIFROST_SECRET_KEY_PREVIOUS)', sampled, decrypted });
      }
    } catch (err) {
      if (err instanceof KeyMismatchError) {
        // Nothing is left open by a service that refuses to start (its caller gets no app to close).
        if (this.dataSource.isInitialized) await this.dataSource.destroy().catch(() => undefined);
      }
      throw err;
    }
  }
}
