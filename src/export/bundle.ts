/**
 * The bundle formats: this service's own (`bifrost-config-bundle`, version 1) and Bifrost's configs
 * export (`bifrost_export_version` 1.0), the header pass over a document, and the checks of one row.
 * Everything here is pure: no database, no keys.
 */
import secureJson from 'secure-json-parse';
import { ORG_NAME_PATTERN } from '../scopes/org-names';
import { AppError } from '../common/errors';
import { jsonDepth, MAX_JSON_DEPTH } from '../common/json-body';
import { CONFIG_TYPES, ConfigType } from '../configs/config.entity';
import { KEY_PATTERN, normalizeValue } from '../configs/config-values';
import { InvalidTokenError, looksLikeFernetToken } from '../crypto/fernet';
import { unwrapBifrostStored } from '../crypto/key-derivation';
import type { JsonPath, JsonScanHandlers } from './json-stream';

export const BUNDLE_FORMAT = 'bifrost-config-bundle';
export const BUNDLE_VERSION = 1;
export const BIFROST_EXPORT_VERSION = '1.0';
export const MAX_DESCRIPTION = 1000;
/** An org name as POST /api/orgs accepts it (no leading or trailing space), at most 100 characters. */

export const isOrgName = (name: string): boolean => name.length <= 100 && ORG_NAME_PATTERN.test(name);

/** A scope as a bundle writes it: orgs by name, so a bundle means the same thing in any deployment. */
export type BundleScope = 'global' | { org: string };

export type BundleKind = 'bundle' | 'bifrost';

/** One problem of an import; `row` is the index in the bundle's array, null for the whole bundle. */
export interface ImportProblem {
  row: number | null;
  key?: string;
  code: string;
  message: string;
  /** LOOKS_LIKE_A_SECRET: the row's scope and the detector that matched (never the value). */
  scope?: BundleScope;
  detector?: string;
}

export interface BundleHeader {
  kind: BundleKind | null;
  wrapped: boolean;
  portable?: boolean;
  sourceSecretKey?: string;
  rows: number;
  problems: ImportProblem[];
}

/** Where a row goes: the global scope, an org by name, or (Bifrost rows only) an org by id. */
export type ScopeRef = { kind: 'global' } | { kind: 'org'; name: string } | { kind: 'orgId'; id: string; name?: string };

export interface ParsedRow {
  key: string;
  type: ConfigType;
  /** undefined: the row says nothing, so an overwrite keeps the existing description. */
  description: string | null | undefined;
  scope: ScopeRef;
  /** A non-secret's value as stored (JSON text). */
  stored: string | null;
  /** A secret's Fernet token (unwrapped from Bifrost's stored form), or null for no value. */
  secretToken: string | null;
}

const ROW_ARRAYS: Record<BundleKind, string> = { bundle: 'configs', bifrost: 'items' };
const HEADER_FIELDS = new Set(['format', 'version', 'portable', 'exportedAt', 'bifrost_export_version', 'entity_type', 'contains_encrypted_values', 'item_count', 'exported_at']);

const KNOWN_MEMBERS = new Set([...HEADER_FIELDS, 'sourceSecretKey', 'bundle', 'configs', 'items']);

const isRowArrayPath = (p: JsonPath) =>
  (p.length === 1 && (p[0] === 'configs' || p[0] === 'items')) || (p.length === 2 && p[0] === 'bundle' && (p[1] === 'configs' || p[1] === 'items'));

/** True for the path of a row: an element of `configs` / `items`, bare or inside `bundle`. */
export const isRowPath = (p: JsonPath) => typeof p[p.length - 1] === 'number' && isRowArrayPath(p.slice(0, -1));

/** Which structures a bundle scan streams into: the root, a wrapped `bundle`, and the row arrays. */
export function descendBundle(path: JsonPath, kind: 'object' | 'array'): boolean {
  if (path.length === 0) return kind === 'object';
  if (path.length === 1 && path[0] === 'bundle') return kind === 'object';
  return kind === 'array' && isRowArrayPath(path);
}

/** Scan handlers that learn the header (format, version, key) and count the rows, skipping them. */
export function headerCollector(): { handlers: JsonScanHandlers; result: () => BundleHeader } {
  const root: Record<string, unknown> = {};
  const inner: Record<string, unknown> = {};
  const problems: ImportProblem[] = [];
  // Only the members this format knows are checked for repeats (each reported once), so neither
  // this set nor the problems grow with a document's unknown or repeated members.
  const seen = new Set<string>();
  const reported = new Set<string>();
  const arrays: string[] = [];
  let rows = 0;
  let wrapped = false;
  const note = (path: JsonPath) => {
    if (path.length === 0 || path.length > 2 || typeof path[path.length - 1] === 'number') return;
    if (!KNOWN_MEMBERS.has(path[path.length - 1] as string) || (path.length === 2 && path[0] !== 'bundle')) return;
    const id = path.join('\u0000');
    if (seen.has(id) && !reported.has(id)) {
      reported.add(id);
      problems.push({ row: null, code: 'DUPLICATE_MEMBER', message: `The member "${String(path[path.length - 1]).slice(0, 40)}" appears twice` });
    }
    seen.add(id);
  };
  const handlers: JsonScanHandlers = {
    descend(path, kind) {
      const yes = descendBundle(path, kind);
      // A value not descended into comes back through value(), which notes it.
      if (yes) note(path);
      if (yes && path.length === 1 && path[0] === 'bundle') wrapped = true;
      if (yes && isRowArrayPath(path)) arrays.push(path.join('.'));
      return yes;
    },
    wants(path) {
      if (isRowPath(path)) return false;
      const last = path[path.length - 1];
      if (path.length === 1) return HEADER_FIELDS.has(last as string) || last === 'sourceSecretKey';
      return path.length === 2 && path[0] === 'bundle' && HEADER_FIELDS.has(last as string);
    },
    value(path, value) {
      if (isRowPath(path)) {
        rows++;
        return;
      }
      note(path);
      if (path.length === 1) root[path[0] as string] = value;
      else if (path.length === 2 && path[0] === 'bundle') inner[path[1] as string] = value;
    },
  };
  const result = (): BundleHeader => {
    const header: BundleHeader = { kind: null, wrapped, rows, problems };
    if ('bundle' in root && !wrapped) problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: '"bundle" must be an object' });
    if (wrapped && arrays.some((a) => !a.startsWith('bundle.'))) {
      problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: 'A wrapped body carries its configs inside "bundle" only' });
    }
    const fields = wrapped ? inner : root;
    if ('sourceSecretKey' in root) {
      const key = root.sourceSecretKey;
      if (typeof key === 'string' && key.length > 0) header.sourceSecretKey = key;
      else if (key !== null) problems.push({ row: null, code: 'INVALID_SOURCE_KEY', message: 'sourceSecretKey must be a non-empty string' });
    }
    if ('format' in fields || 'version' in fields) {
      if (fields.format !== BUNDLE_FORMAT || fields.version !== BUNDLE_VERSION) {
        problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: `Expected format "${BUNDLE_FORMAT}" version ${BUNDLE_VERSION}` });
      } else header.kind = 'bundle';
      if ('portable' in fields && typeof fields.portable !== 'boolean') problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: '"portable" must be true or false' });
      else if (typeof fields.portable === 'boolean') header.portable = fields.portable;
    } else if ('bifrost_export_version' in fields) {
      if (fields.bifrost_export_version !== BIFROST_EXPORT_VERSION) {
        problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: `Only Bifrost export version ${BIFROST_EXPORT_VERSION} is supported` });
      } else if (fields.entity_type !== 'configs') {
        problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: 'Only Bifrost exports with entity_type "configs" can be imported' });
      } else header.kind = 'bifrost';
    } else {
      problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: `Not a bundle: expected "format": "${BUNDLE_FORMAT}" or Bifrost's "bifrost_export_version"` });
    }
    if (header.kind) {
      const want = (wrapped ? 'bundle.' : '') + ROW_ARRAYS[header.kind];
      if (!arrays.includes(want)) {
        problems.push({ row: null, code: 'MISSING_CONFIGS', message: `The bundle has no "${ROW_ARRAYS[header.kind]}" array` });
      }
      const other = (wrapped ? 'bundle.' : '') + ROW_ARRAYS[header.kind === 'bundle' ? 'bifrost' : 'bundle'];
      if (arrays.includes(other)) problems.push({ row: null, code: 'UNSUPPORTED_FORMAT', message: `"${other}" does not belong in this format` });
    }
    return header;
  };
  return { handlers, result };
}

/** The path of the row array the rows of this header come from. */
export function rowArrayPath(header: BundleHeader): string[] {
  const name = ROW_ARRAYS[header.kind!];
  return header.wrapped ? ['bundle', name] : [name];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The limits every JSON body has (src/common/json-body.ts), applied to each row of a streamed bundle. */
function unsafeRow(raw: unknown, row: number): ImportProblem | null {
  try {
    secureJson.scan(raw as Record<string, unknown>, { protoAction: 'error', constructorAction: 'error' });
  } catch {
    return { row, code: 'INVALID_ROW', message: 'A row may not hold a __proto__ or constructor.prototype key' };
  }
  if (jsonDepth(raw) > MAX_JSON_DEPTH) return { row, code: 'JSON_TOO_DEEP', message: `JSON nesting is limited to ${MAX_JSON_DEPTH} levels` };
  return null;
}

function checkKey(raw: unknown, problems: ImportProblem[], row: number): string | undefined {
  if (typeof raw === 'string' && KEY_PATTERN.test(raw)) return raw;
  problems.push({ row, code: 'INVALID_KEY', message: 'key must match ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$' });
  return undefined;
}

function checkDescription(obj: Record<string, unknown>, problems: ImportProblem[], row: number, key?: string): string | null | undefined {
  if (!('description' in obj) || obj.description === undefined) return undefined;
  const d = obj.description;
  if (d === null) return null;
  if (typeof d === 'string' && d.length <= MAX_DESCRIPTION) return d;
  problems.push({ row, key, code: 'INVALID_DESCRIPTION', message: `description must be null or a string of at most ${MAX_DESCRIPTION} characters` });
  return undefined;
}

function checkValue(type: ConfigType, raw: unknown, problems: ImportProblem[], row: number, key?: string): string | null {
  try {
    return normalizeValue(type, raw).stored;
  } catch (err) {
    if (err instanceof AppError) problems.push({ row, key, code: err.code, message: err.message });
    else throw err;
    return null;
  }
}

/** A secret's token as given: a Fernet token, or Bifrost's stored form (the token base64url-encoded again). */
function checkToken(raw: unknown, problems: ImportProblem[], row: number, key: string | undefined, field: string): string | null {
  if (raw === null || raw === undefined || raw === '') return null;
  if (typeof raw === 'string') {
    if (looksLikeFernetToken(raw)) return raw;
    try {
      return unwrapBifrostStored(raw);
    } catch (err) {
      if (!(err instanceof InvalidTokenError)) throw err;
    }
  }
  problems.push({ row, key, code: 'INVALID_SECRET', message: `${field} must be a Fernet token (plain or in Bifrost's stored form)` });
  return null;
}

/** Checks one row of this service's bundle; every problem is listed, none echoes a value. */
export function parseBundleRow(raw: unknown, row: number): { parsed?: ParsedRow; problems: ImportProblem[] } {
  const problems: ImportProblem[] = [];
  if (!isPlainObject(raw)) return { problems: [{ row, code: 'INVALID_ROW', message: 'Each config must be an object' }] };
  const key = checkKey(raw.key, problems, row);
  let scope: ScopeRef | undefined;
  if (raw.scope === 'global') scope = { kind: 'global' };
  else if (isPlainObject(raw.scope) && Object.keys(raw.scope).length === 1 && typeof raw.scope.org === 'string' && isOrgName(raw.scope.org)) {
    scope = { kind: 'org', name: raw.scope.org };
  } else problems.push({ row, key, code: 'INVALID_SCOPE', message: 'scope must be "global" or {"org": "<org name>"}' });
  const type = (CONFIG_TYPES as readonly unknown[]).includes(raw.type) ? (raw.type as ConfigType) : undefined;
  if (!type) problems.push({ row, key, code: 'INVALID_TYPE', message: `type must be one of ${CONFIG_TYPES.join(', ')}` });
  const description = checkDescription(raw, problems, row, key);
  let stored: string | null = null;
  let secretToken: string | null = null;
  if (type === 'secret') {
    if (raw.value !== undefined && raw.value !== null) {
      problems.push({ row, key, code: 'SECRET_IN_CLEAR', message: 'A secret’s value must be null: a bundle carries secrets only as encryptedValue' });
    }
    secretToken = checkToken(raw.encryptedValue, problems, row, key, 'encryptedValue');
  } else if (type) {
    if (!('value' in raw)) problems.push({ row, key, code: 'MISSING_VALUE', message: 'A config other than a secret needs a value' });
    else stored = checkValue(type, raw.value, problems, row, key);
    if (raw.encryptedValue !== undefined && raw.encryptedValue !== null) {
      problems.push({ row, key, code: 'INVALID_ROW', message: 'Only a secret carries encryptedValue' });
    }
  }
  if (problems.length > 0) return { problems };
  return { parsed: { key: key!, type: type!, description, scope: scope!, stored, secretToken }, problems };
}

/** Bifrost's config types are its enum's values (lowercase); older files may spell them in capitals. */
const BIFROST_TYPES: Record<string, ConfigType> = { string: 'string', int: 'int', integer: 'int', bool: 'bool', boolean: 'bool', json: 'json', secret: 'secret' };

/** Checks one item of a Bifrost configs export (ConfigExportItem: key, value, config_type, description, organization_id/_name). */
export function parseBifrostRow(raw: unknown, row: number): { parsed?: ParsedRow; problems: ImportProblem[] } {
  const problems: ImportProblem[] = [];
  if (!isPlainObject(raw)) return { problems: [{ row, code: 'INVALID_ROW', message: 'Each item must be an object' }] };
  const key = checkKey(raw.key, problems, row);
  const type = typeof raw.config_type === 'string' ? BIFROST_TYPES[raw.config_type.toLowerCase()] : undefined;
  if (!type) problems.push({ row, key, code: 'INVALID_TYPE', message: 'config_type must be one of string, int, bool, json, secret' });
  const description = checkDescription(raw, problems, row, key);
  let scope: ScopeRef = { kind: 'global' };
  // Bifrost resolves an item's org by name first, then by id (ids differ between deployments).
  const orgName = raw.organization_name;
  const orgId = raw.organization_id;
  if (orgName !== undefined && orgName !== null) {
    if (typeof orgName === 'string' && isOrgName(orgName)) scope = { kind: 'org', name: orgName };
    else problems.push({ row, key, code: 'INVALID_SCOPE', message: 'organization_name must be an org name (1-100 letters, digits, inner spaces, _ . -)' });
  } else if (orgId !== undefined && orgId !== null) {
    if (typeof orgId === 'string' && orgId.length > 0 && orgId.length <= 36) scope = { kind: 'orgId', id: orgId };
    else problems.push({ row, key, code: 'INVALID_SCOPE', message: 'organization_id must be an org id' });
  }
  let stored: string | null = null;
  let secretToken: string | null = null;
  if (type === 'secret') secretToken = checkToken(raw.value, problems, row, key, 'value');
  else if (type) {
    let value = raw.value;
    // Python writes booleans that went through str() as "True"/"False".
    if (type === 'bool' && (value === 'True' || value === 'False')) value = value.toLowerCase();
    if (value === undefined) problems.push({ row, key, code: 'MISSING_VALUE', message: 'A config other than a secret needs a value' });
    else stored = checkValue(type, value, problems, row, key);
  }
  if (problems.length > 0) return { problems };
  return { parsed: { key: key!, type: type!, description, scope, stored, secretToken }, problems };
}

export function parseRow(kind: BundleKind, raw: unknown, row: number): { parsed?: ParsedRow; problems: ImportProblem[] } {
  const unsafe = unsafeRow(raw, row);
  if (unsafe) return { problems: [unsafe] };
  return kind === 'bundle' ? parseBundleRow(raw, row) : parseBifrostRow(raw, row);
}

/** The opening of a bundle, up to the `[` of its configs array. */
export function bundleOpening(portable: boolean, exportedAt: Date): string {
  return `{"format":${JSON.stringify(BUNDLE_FORMAT)},"version":${BUNDLE_VERSION},"portable":${portable},"exportedAt":${JSON.stringify(exportedAt.toISOString())},"configs":[`;
}

export const BUNDLE_CLOSING = '\n]}\n';

export interface ExportRow {
  scope: BundleScope;
  key: string;
  type: ConfigType;
  description: string | null;
  /** A non-secret's stored JSON text. */
  value: string | null;
  /** Backups only: a secret's Fernet token, or null when it has no value. */
  encryptedValue?: string | null;
}

/** What a portable bundle is scrubbed with (src/scrubber's Scrubber is one). */
export interface ValueScrubber {
  readonly isEmpty: boolean;
  scrub(text: string): string;
  /** Strings (object keys too) scrubbed; a number whose text holds a secret becomes "[REDACTED]". */
  scrubDeep(value: unknown): unknown;
}

/**
 * A non-secret's stored JSON text with every secret replaced value by value, so the result is the
 * same kind of JSON (never text cut through a string or a structure). Fast path: a text without a
 * backslash writes every string exactly as it reads, so when the text itself holds no secret, no
 * value inside it does either and it is kept as it is.
 */
export function scrubStoredValue(stored: string, scrubber: ValueScrubber): string {
  if (scrubber.isEmpty) return stored;
  if (!stored.includes('\\') && scrubber.scrub(stored) === stored) return stored;
  return JSON.stringify(scrubber.scrubDeep(JSON.parse(stored)));
}

/**
 * One config as a line of the bundle. A non-secret's value is written from its stored JSON text
 * (as is in a backup, which is a faithful copy); a secret never carries `value` other than null.
 * A portable item with a `scrubber` has its description and value scrubbed value by value; its
 * scope, key and type are identifiers of the bundle's structure and are written as they are.
 */
export function bundleItem(row: ExportRow, portable: boolean, scrubber: ValueScrubber | null = null): string {
  const scrub = portable ? scrubber : null;
  const description = scrub && row.description !== null ? scrub.scrub(row.description) : row.description;
  const head = `{"scope":${JSON.stringify(row.scope)},"key":${JSON.stringify(row.key)},"type":"${row.type}","description":${JSON.stringify(description)}`;
  if (row.type !== 'secret') {
    const value = row.value === null ? 'null' : scrub ? scrubStoredValue(row.value, scrub) : row.value;
    return `${head},"value":${value}}`;
  }
  if (portable) return `${head},"value":null}`;
  return `${head},"encryptedValue":${JSON.stringify(row.encryptedValue ?? null)}}`;
}
