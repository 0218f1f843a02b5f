import type { DataSource } from 'typeorm';
import type { AuditService } from '../../audit/audit.service';
import type { ConfigsRepository } from '../../configs/configs.repository';
import type { SecretVersions } from '../../configs/secret-versions';
import type { CryptoService } from '../../crypto/crypto.service';
import type { OrgsRepository } from '../../scopes/orgs.repository';
import type { BundleScope, ImportProblem, ParsedRow } from '../bundle';

export type OnConflict = 'overwrite' | 'skip';

export interface ImportOptions {
  dryRun: boolean;
  onConflict: OnConflict;
  createOrgs: boolean;
  /**
   * With onConflict=overwrite, a row of another type over an existing secret discards the secret:
   * only with this set (else the row is a SECRET_TYPE_CHANGE problem), as for a REST PUT.
   */
  allowTypeChange?: boolean;
  /** Takes the place of the body's sourceSecretKey (the CLI reads it from the environment). */
  sourceSecretKey?: string;
  /** Plain rows that look like credentials are imported (audited) instead of being LOOKS_LIKE_A_SECRET problems. */
  allowSecretLikeValues?: boolean;
}

export interface ImportResult {
  created: number;
  updated: number;
  skipped: number;
  secretsNeedingValue: { scope: BundleScope; key: string }[];
  /** Always empty: an import with any problem writes nothing and answers 400 instead. */
  errors: ImportProblem[];
}

export interface ImportProgress {
  phase: 'validate' | 'write';
  rows: number;
}

/** The document, readable more than once (a file; a request spooled to a file). */
export type BundleSource = () => AsyncIterable<Buffer>;

/** A row of the bundle as the scanner found it, by its index. */
export interface RawRow {
  row: number;
  raw: unknown;
}

/** A row checked and resolved: where it goes, and its secret opened. */
export interface Resolved {
  row: number;
  parsed: ParsedRow;
  /** The org's id, or null for global; a `new:` placeholder for an org a dry run would create. */
  scopeId: string;
  scopeOut: BundleScope;
  secretPlain: string | null;
  secretKeep?: string;
  /** A credential-looking plain value imported by allowSecretLikeValues: its audit note. */
  leakNote?: string;
}

/** What an import works with. */
export interface ImportDeps {
  dataSource: DataSource;
  crypto: CryptoService;
  audit: AuditService;
  configs: ConfigsRepository;
  orgs: OrgsRepository;
  secretVersions: SecretVersions;
}
