/**
 * Strict codecs shared by the crypto layer. Node's own decoders are lenient (they skip
 * unknown characters and accept both base64 alphabets), so every decode here is checked
 * by re-encoding: only the one canonical spelling of a byte string is accepted.
 */

/** base64url with `=` padding, as Python's `base64.urlsafe_b64encode` writes it. */
export function encodeBase64Url(data: Buffer): string {
  const unpadded = data.toString('base64url'); // Node omits the padding
  return unpadded + '='.repeat((4 - (unpadded.length % 4)) % 4);
}

/**
 * Decodes canonical base64url. With `padding: 'required'` the input must carry its `=`
 * padding (Fernet tokens and keys); with `'optional'` unpadded input is accepted too.
 * Returns `null` for anything else: characters outside the alphabet, `+` or `/`,
 * whitespace, wrong length or padding, non-zero trailing bits.
 */
export function decodeBase64Url(text: string, padding: 'required' | 'optional'): Buffer | null {
  let padded = text;
  if (padding === 'optional' && !text.includes('=') && text.length % 4 !== 0) {
    if (text.length % 4 === 1) return null;
    padded = text + '='.repeat(4 - (text.length % 4));
  }
  if (padded.length % 4 !== 0) return null;
  const data = Buffer.from(padded, 'base64url');
  return encodeBase64Url(data) === padded ? data : null;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * UTF-8 bytes of a string. Rejects lone surrogates, which Node would silently turn into
 * U+FFFD (and Python's `str.encode()` refuses), so a value never changes on the way in.
 */
export function utf8Encode(text: string): Buffer {
  if (LONE_SURROGATE.test(text)) {
    throw new TypeError('String is not well-formed Unicode (lone surrogate)');
  }
  return Buffer.from(text, 'utf8');
}

// fatal: invalid bytes throw instead of becoming U+FFFD; ignoreBOM: a leading U+FEFF is data.
const UTF8_DECODER = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 decode, like Python's `bytes.decode()`. */
export function utf8Decode(data: Uint8Array): string {
  try {
    return UTF8_DECODER.decode(data);
  } catch {
    throw new TypeError('Bytes are not valid UTF-8');
  }
}
