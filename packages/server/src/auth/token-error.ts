import { CallgateError, type ErrorCode } from '@callgate/protocol';

export type TokenErrorCode = Extract<
  ErrorCode,
  | 'token_missing'
  | 'token_malformed'
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  | 'issuer_unavailable'
>;

/**
 * A token verification failure: `code` is the reason that reaches logs, HTTP bodies and close
 * reasons; `detail` says which check failed (safe to log: it never contains the token).
 */
export class TokenError extends CallgateError {
  declare readonly code: TokenErrorCode;
  readonly detail: string;
  constructor(code: TokenErrorCode, detail: string, options?: { cause?: unknown }) {
    super(code, undefined, options);
    this.name = 'TokenError';
    this.detail = detail;
  }
}
