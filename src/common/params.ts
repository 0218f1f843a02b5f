import { PipeTransform } from '@nestjs/common';
import { AppError, badRequest } from './errors';

/** An id as this service issues them (randomUUID: lowercase); the one UUID rule of the code base. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** The scope every org inherits from. */
export const GLOBAL_SCOPE = 'global';
/** A scope: `global` or an org id. */
export const isScope = (value: unknown): value is string => value === GLOBAL_SCOPE || isUuid(value);

export const invalidScope = () => badRequest('INVALID_SCOPE', 'scope must be "global" or an org id');
export const invalidOrgId = () => badRequest('INVALID_ID', 'orgId must be an org id (a UUID)');

/**
 * A path parameter checked before the handler runs: passed on as it is, or refused with the error
 * its route documents (never naming the value). `@Param(name, pipe)` keeps the parameter's schema in
 * the OpenAPI document (`@ApiParam` describes its format).
 */
export class ParamPipe implements PipeTransform<unknown, string> {
  constructor(
    private readonly valid: (value: unknown) => value is string,
    private readonly refuse: () => AppError,
  ) {}

  transform(value: unknown): string {
    if (!this.valid(value)) throw this.refuse();
    return value;
  }
}

/** `{scope}`: 400 INVALID_SCOPE. */
export const scopeParam = new ParamPipe(isScope, invalidScope);
/** `{orgId}`: 400 INVALID_ID. */
export const orgIdParam = new ParamPipe(isUuid, invalidOrgId);
/** An id of something else, with the error its route answers for one that is not a UUID. */
export const idParam = (refuse: () => AppError) => new ParamPipe(isUuid, refuse);
