import 'reflect-metadata';
import { AppError } from './errors';
import { MAX_DTO_MEMBERS, plainToInstanceLinear, validationPipe } from './validation';
import { PutConfigDto } from '../configs/dto/config.dto';
import { AppendLogsDto, LogLineDto } from '../executions/dto/execution.dto';

const body = (metatype: Function) => ({ type: 'body' as const, metatype: metatype as never });

describe('the validation pipe builds DTOs in time linear in the body', () => {
  it('keeps an opaque value as parsed: it never walks into it (class-transformer copied it, in quadratic time)', async () => {
    const value: Record<string, number> = {};
    for (let i = 0; i < 20_000; i++) value[`k${i}`] = i;
    const out = (await validationPipe().transform({ type: 'json', value }, body(PutConfigDto))) as PutConfigDto;
    expect(out).toBeInstanceOf(PutConfigDto);
    // The very object the parser built: not a copy, so no walk over its 20,000 members.
    expect(out.value).toBe(value);
  });

  it('builds nested @Type() DTOs, and validates them', async () => {
    const out = (await validationPipe().transform({ lines: [{ level: 'info', message: 'm' }] }, body(AppendLogsDto))) as AppendLogsDto;
    expect(out.lines[0]).toBeInstanceOf(LogLineDto);
    await expect(validationPipe().transform({ lines: [{ level: 'info', message: 1 }] }, body(AppendLogsDto))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    await expect(validationPipe().transform({ lines: [{ level: 'info', message: 'm', extra: 1 }] }, body(AppendLogsDto))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('as class-transformer did, does not copy keys that name a method of the class', () => {
    const out = plainToInstanceLinear(PutConfigDto, { type: 'string', value: 'v', constructor: 'x', toString: 'y' }) as Record<string, unknown>;
    expect(Object.keys(out).sort()).toEqual(['type', 'value']);
    expect(out.constructor).toBe(PutConfigDto);
  });

  it(`refuses an object of a DTO's type with more than ${MAX_DTO_MEMBERS} members before validating it, naming none`, async () => {
    const plain: Record<string, unknown> = { type: 'string', value: 'v' };
    for (let i = 0; i < MAX_DTO_MEMBERS; i++) plain[`secret${i}`] = i;
    const err = await validationPipe()
      .transform(plain, body(PutConfigDto))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).message).toBe(`the body has ${MAX_DTO_MEMBERS} properties that are not allowed`);
    expect(JSON.stringify((err as AppError).getResponse())).not.toContain('secret');
    // At the limit, class-validator reports them as before.
    delete plain.secret0;
    await expect(validationPipe().transform(plain, body(PutConfigDto))).rejects.toMatchObject({ message: `the body has ${MAX_DTO_MEMBERS - 1} properties that are not allowed` });
  });
});
