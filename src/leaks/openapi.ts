import { ALLOW_FLAG } from './plain-write-guard';

/** The 400 a plain write can answer when its value looks like a credential (docs/API.md). */
export const LOOKS_LIKE_A_SECRET_DOC = `\`LOOKS_LIKE_A_SECRET\`: a non-secret value that looks like a credential, refused unless \`"${ALLOW_FLAG}": true\`; \`details.detector\` names the detector (never the value)`;

/** The body field's description, for the REST and the SDK PUT. */
export const ALLOW_FLAG_DOC =
  'Default false. A non-secret value that looks like a credential (a known key format, or a long random string under a key named like password, secret, token, api key) ' +
  'is refused with 400 `LOOKS_LIKE_A_SECRET` unless this is true; the write is then audited with the reason `looks like a secret (<detector>), kept plain by allowSecretLikeValue`. Not needed for a secret.';
