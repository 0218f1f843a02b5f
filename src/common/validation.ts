import { ValidationError, ValidationPipe } from '@nestjs/common';
import { badRequest } from './errors';

/** Field names and the rules they broke; never the submitted values. */
function describe(errors: ValidationError[], parent = ''): { field: string; rules: string[]; messages: string[] }[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, rules: Object.keys(e.constraints), messages: Object.values(e.constraints) }] : [];
    return [...own, ...describe(e.children ?? [], field)];
  });
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
