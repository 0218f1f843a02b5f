import { ValidationError, ValidationPipe } from '@nestjs/common';
import { badRequest } from './errors';

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

export const validationPipe = () =>
  new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => {
      const details = describe(errors);
      const message = details.flatMap((d) => d.messages).join('; ') || 'The request is not valid';
      return badRequest('VALIDATION_FAILED', message, details.map(({ field, rules }) => ({ field, rules })));
    },
  });
