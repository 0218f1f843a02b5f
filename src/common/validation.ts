import { ValidationError, ValidationPipe } from '@nestjs/common';
import type { TransformerPackage } from '@nestjs/common/interfaces/external/transformer-package.interface';
import { getMetadataStorage, ValidationOptions } from 'class-validator';
import { badRequest } from './errors';

interface TypeMetadataStorage {
  findTypeMetadata(target: Function, property: string): { typeFunction: (options?: unknown) => Function } | undefined;
}
// class-transformer's own registry of @Type() decorators (the one its decorators write to).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const typeMetadata: TypeMetadataStorage = require('class-transformer/cjs/storage').defaultMetadataStorage;

/**
 * class-transformer's plainToInstance, for what request DTOs use of it (@Type on nested DTOs), in
 * time linear in the body. class-transformer walks and copies every nested value, opaque JSON
 * values too, and removes duplicate keys from each object's key list with `indexOf`: quadratic in
 * an object's member count (a 1 MiB body of 80,000 members took 9.3 s to refuse). Here a property
 * without @Type keeps its value as parsed (the body parser built it, nothing else holds it), and
 * keys are those of the object, which has none twice. As class-transformer does, a key that names
 * a method or a read-only accessor of the class (`constructor`, `toString`, ...) is not copied.
 */
export function plainToInstanceLinear<T>(cls: new () => T, plain: unknown, top = true): unknown {
  if (Array.isArray(plain)) return plain.map((item) => plainToInstanceLinear(cls, item, top));
  if (plain === null || typeof plain !== 'object') return plain;
  const keys = Object.keys(plain);
  if (keys.length > MAX_DTO_MEMBERS) refuseManyMembers(cls, keys, top);
  const out = new cls() as Record<string, unknown>;
  const proto = cls.prototype as object;
  for (const key of keys) {
    const descriptor = Object.getOwnPropertyDescriptor(proto, key);
    if ((descriptor && !descriptor.set) || out[key] instanceof Function) continue;
    const value = (plain as Record<string, unknown>)[key];
    const type = typeMetadata.findTypeMetadata(cls, key);
    out[key] = type ? plainToInstanceLinear(type.typeFunction({ newObject: out, object: plain, property: key }) as new () => unknown, value, false) : value;
  }
  return out;
}

/**
 * No request DTO has more than a handful of properties: an object of a DTO's type with more members
 * than this is refused before validation, which would otherwise build one error per unknown member.
 */
export const MAX_DTO_MEMBERS = 64;

function refuseManyMembers(cls: Function, keys: string[], top: boolean): never {
  const known = new Set(getMetadataStorage().getTargetValidationMetadatas(cls, '', true, false).map((m) => m.propertyName));
  const unknown = keys.reduce((n, key) => (known.has(key) ? n : n + 1), 0);
  const where = top ? 'the body has' : 'an object in the body has';
  throw badRequest('VALIDATION_FAILED', `${where} ${unknown} properties that are not allowed`, [{ field: '(body)', rules: ['whitelistValidation'] }]);
}

/**
 * Nest's ValidationPipe keeps its transformer package in a module-level variable, set by the last
 * pipe constructed: this one must stay the only ValidationPipe of the application (a
 * `new ValidationPipe()` elsewhere would bring class-transformer back for every pipe).
 */
const transformer: TransformerPackage = {
  plainToInstance: (cls, plain) => plainToInstanceLinear(cls as new () => unknown, plain) as never,
  classToPlain: (object) => object as Record<string, unknown>,
};

/**
 * Field names and the rules they broke; never the submitted values. A property the schema does not
 * know is the client's own text (a pasted key, a secret sent under the wrong name), so it is never
 * named: the error names the object that holds it, and says how many such properties there are.
 */
function describe(errors: ValidationError[], parent = ''): { field: string; rules: string[]; messages: string[] }[] {
  const unknown = errors.filter((e) => e.constraints?.whitelistValidation !== undefined);
  const out = errors.flatMap((e) => {
    if (e.constraints?.whitelistValidation !== undefined) return [];
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, rules: Object.keys(e.constraints), messages: Object.values(e.constraints) }] : [];
    return [...own, ...describe(e.children ?? [], field)];
  });
  if (unknown.length > 0) {
    const where = parent ? `${parent} has` : 'the body has';
    const what = unknown.length === 1 ? 'a property that is not allowed' : `${unknown.length} properties that are not allowed`;
    out.unshift({ field: parent || '(body)', rules: ['whitelistValidation'], messages: [`${where} ${what}`] });
  }
  return out;
}

/**
 * A rule with its own error code (a query filter's INVALID_LIMIT, INVALID_TYPE, ...): the pipe
 * answers the first such field's code and message when every broken rule has one; any other fault
 * (an unknown parameter, a repeated one, a body of the wrong shape) is VALIDATION_FAILED as before.
 */
export const withCode = (code: string, message: string): ValidationOptions => ({ message, context: { code } });

function coded(errors: ValidationError[]): { code: string; message: string } | undefined {
  let first: { code: string; message: string } | undefined;
  for (const e of errors) {
    if ((e.children ?? []).length > 0) return undefined;
    for (const [rule, message] of Object.entries(e.constraints ?? {})) {
      const code = (e.contexts?.[rule] as { code?: unknown } | undefined)?.code;
      if (typeof code !== 'string') return undefined;
      first ??= { code, message };
    }
  }
  return first;
}

export const validationPipe = () =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    transformerPackage: transformer,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const own = coded(errors);
      if (own) return badRequest(own.code, own.message);
      const details = describe(errors);
      const message = details.flatMap((d) => d.messages).join('; ') || 'The request is not valid';
      return badRequest('VALIDATION_FAILED', message, details.map(({ field, rules }) => ({ field, rules })));
    },
  });
