import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { badRequest } from '../common/errors';
import type { ConfigType } from '../configs/config.entity';
import { detectLeak } from './detectors';

/** The body field (REST and SDK PUT) by which a writer says a credential-looking plain value is meant. */
export const ALLOW_FLAG = 'allowSecretLikeValue';
/** The import's query parameter (and the CLI's --allow-secret-like-values) for the same, for every row. */
export const ALLOW_FLAG_IMPORT = 'allowSecretLikeValues';

const HOW = 'store it as type secret (the SDK: isSecret: true)';

/** The refusal: names the detector, never the value. */
export const looksLikeASecret = (detector: string) =>
  badRequest('LOOKS_LIKE_A_SECRET', `The value looks like a credential (${detector}): ${HOW}, or send "${ALLOW_FLAG}": true to keep it plain`, { detector });

/** An import row's problem, for the same reason. */
export const looksLikeASecretProblem = (row: number, key: string, detector: string) => ({
  row,
  key,
  code: 'LOOKS_LIKE_A_SECRET',
  message: `The value looks like a credential (${detector}): make the row a secret, or import with ${ALLOW_FLAG_IMPORT}=true to keep it plain`,
  detector,
});

/** The audit reason of a credential-looking value written plain because the writer said so. */
export const acceptedNote = (detector: string, flag: string) => `looks like a secret (${detector}), kept plain by ${flag}`;

export interface PlainWrite {
  actor: Principal;
  scope: string;
  key: string;
  type: ConfigType;
  /** The typed value, as checked by normalizeValue. */
  value: unknown;
  allow?: boolean;
  /** Whether (scope, key) exists now: only asked for a refusal's audit action. */
  exists: () => Promise<boolean>;
}

/**
 * The write rule for a plain value: one that looks like a credential is refused (400
 * LOOKS_LIKE_A_SECRET, audited as a failed write) unless the write says it means it; then the
 * audit reason to give the write's entry. A secret is never looked at: it is what it should be.
 */
export async function guardPlainWrite(audit: AuditService, w: PlainWrite): Promise<string | undefined> {
  if (w.type === 'secret') return undefined;
  const found = detectLeak(w.key, w.value);
  if (!found) return undefined;
  if (w.allow === true) return acceptedNote(found.detector, ALLOW_FLAG);
  const action = (await w.exists()) ? 'config.update' : 'config.create';
  await audit.recordRead({ action, outcome: 'failure', scope: w.scope, key: w.key, configType: w.type, reason: `LOOKS_LIKE_A_SECRET ${found.detector}`, actor: w.actor });
  throw looksLikeASecret(found.detector);
}
