import { AppError } from '../common/errors';
import { MASK, normalizeValue } from './config-values';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    return err instanceof AppError ? err.code : 'NOT_AN_APP_ERROR';
  }
  return undefined;
};

describe('normalizeValue: the mask as a secret’s value', () => {
  it('refuses the mask, a part of it, several, or the mask in whitespace (MASK_AS_VALUE), never quoting it', () => {
    for (const raw of [MASK, '•', '••••', `  ${MASK}\n`, `${MASK}\n${MASK}`, '•'.repeat(40)]) {
      expect(codeOf(() => normalizeValue('secret', raw))).toBe('MASK_AS_VALUE');
      try {
        normalizeValue('secret', raw);
      } catch (err) {
        expect((err as AppError).message).not.toContain('•');
      }
    }
  });

  it('accepts a real value that merely holds bullets, and the mask as a non-secret string', () => {
    expect(normalizeValue('secret', `pw-${MASK}`).stored).toBe(`pw-${MASK}`);
    expect(normalizeValue('secret', `line one\n${MASK}`).stored).toBe(`line one\n${MASK}`);
    expect(normalizeValue('string', MASK).value).toBe(MASK);
    expect(codeOf(() => normalizeValue('secret', ''))).toBe('INVALID_VALUE');
  });
});
