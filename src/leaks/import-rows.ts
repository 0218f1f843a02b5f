import type { BundleScope, ImportProblem, ParsedRow } from '../export/bundle';
import { detectLeak } from './detectors';
import { ALLOW_FLAG_IMPORT, acceptedNote, looksLikeASecretProblem } from './plain-write-guard';

/**
 * The write rule for an import row, as for a PUT: a plain value that looks like a credential is a
 * LOOKS_LIKE_A_SECRET problem (one per row, with its scope, key and detector), or with
 * allowSecretLikeValues the note its audit entry carries.
 */
export function checkImportRow(row: number, scope: BundleScope, parsed: ParsedRow, allow: boolean): { problem?: ImportProblem; note?: string } {
  if (parsed.type === 'secret' || parsed.stored === null) return {};
  const found = detectLeak(parsed.key, JSON.parse(parsed.stored));
  if (!found) return {};
  if (allow) return { note: acceptedNote(found.detector, ALLOW_FLAG_IMPORT) };
  return { problem: { ...looksLikeASecretProblem(row, parsed.key, found.detector), scope } };
}

/** For a refused import's audit reason: how many of its listed problems are LOOKS_LIKE_A_SECRET. */
export function leakRefusalSummary(err: unknown): string {
  const details = (err as { details?: unknown } | null)?.details;
  if (!Array.isArray(details)) return '';
  const n = details.filter((p) => (p as ImportProblem)?.code === 'LOOKS_LIKE_A_SECRET').length;
  return n > 0 ? ` LOOKS_LIKE_A_SECRET rows=${n}` : '';
}
