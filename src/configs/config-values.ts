import { badRequest } from '../common/errors';
import { ParamPipe } from '../common/params';
import { MASK } from '../scrubber/secret-forms';
import { ConfigType } from './config.entity';

export { MASK };
export const MAX_VALUE_BYTES = 64 * 1024;
export const KEY_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

const isConfigKey = (key: unknown): key is string => typeof key === 'string' && KEY_PATTERN.test(key);
const invalidKey = () => badRequest('INVALID_KEY', 'key must match ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$ (letters, digits, _ . -; not starting with . or -)');

export function assertValidKey(key: string): void {
  if (!isConfigKey(key)) throw invalidKey();
}

/** `{key}`: 400 INVALID_KEY. */
export const configKeyParam = new ParamPipe(isConfigKey, invalidKey);

/** The checked, typed value and its stored form (JSON text; for a secret, the plaintext to encrypt). */
export interface NormalizedValue {
  value: unknown;
  stored: string;
}

/** Only mask bullets (U+2022) and whitespace: the mask, a part of it, or several, sent back as a value. */
const MASK_ONLY = /^\s*\u2022[\s\u2022]*$/;

export const maskAsValue = () =>
  badRequest('MASK_AS_VALUE', 'A secret’s value must be its real value, not the mask that listings show in its place: send the full new value');

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** JSON.stringify would store 1e400 (parsed as Infinity) as null: refuse it instead of changing it. */
function finiteNumbers(_key: string, v: unknown): unknown {
  if (typeof v === 'number' && !Number.isFinite(v)) throw badRequest('INVALID_VALUE', 'The value holds a number outside the range JSON numbers can be stored in');
  return v;
}

const invalid = (type: ConfigType, rule: string) => badRequest('INVALID_VALUE', `The value does not fit type ${type}: ${rule}`);

/**
 * Validates a submitted value against its declared type (API.md's table). Error messages name the
 * rule that failed, never the value.
 */
export function normalizeValue(type: ConfigType, raw: unknown): NormalizedValue {
  let value: unknown;
  switch (type) {
    case 'string':
      if (typeof raw !== 'string') throw invalid(type, 'expected a string');
      value = raw;
      break;
    case 'secret':
      if (typeof raw !== 'string') throw invalid(type, 'expected a string');
      if (raw.length === 0) throw badRequest('INVALID_VALUE', 'A secret must not be empty');
      // The mask every listing shows, sent back (a form re-submitted unchanged): it would replace the real value.
      if (MASK_ONLY.test(raw)) throw maskAsValue();
      // It is encrypted as UTF-8, where a lone surrogate would silently become U+FFFD.
      if (LONE_SURROGATE.test(raw)) throw invalid(type, 'not well-formed Unicode (a lone surrogate)');
      value = raw;
      break;
    case 'int': {
      let n: number;
      if (typeof raw === 'number') n = raw;
      else if (typeof raw === 'string' && /^-?\d{1,16}$/.test(raw)) n = Number(raw);
      else throw invalid(type, 'expected an integer');
      if (!Number.isInteger(n)) throw invalid(type, 'expected an integer');
      if (!Number.isSafeInteger(n)) throw invalid(type, 'outside the safe integer range');
      value = n === 0 ? 0 : n; // no -0
      break;
    }
    case 'bool':
      if (typeof raw === 'boolean') value = raw;
      else if (raw === 'true' || raw === 'false') value = raw === 'true';
      else throw invalid(type, 'expected true or false');
      break;
    case 'json':
      if (raw === undefined) throw invalid(type, 'a JSON value is required');
      value = raw;
      break;
  }
  const stored = type === 'secret' ? (value as string) : JSON.stringify(value, finiteNumbers);
  if (Buffer.byteLength(stored, 'utf8') > MAX_VALUE_BYTES) {
    throw badRequest('VALUE_TOO_LARGE', `A serialized value may be at most ${MAX_VALUE_BYTES} bytes`);
  }
  return { value, stored };
}

/** The SDK's type inference: object/array → json, boolean → bool, integer → int, else string. */
export function inferType(value: unknown, isSecret?: boolean): ConfigType {
  if (isSecret) return 'secret';
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number' && Number.isInteger(value)) return 'int';
  if (value !== null && typeof value === 'object') return 'json';
  if (typeof value === 'number' || value === null) return 'json';
  return 'string';
}
