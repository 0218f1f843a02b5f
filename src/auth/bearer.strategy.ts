import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-http-bearer';
import { deferTokenCheck } from './deferred-token-check';
import { Principal } from './roles';
import { TokensService } from './tokens.service';

/** Set on the request by the guard on @TokenCheckedByHandler routes: the token's row may be read by the handler. */
export const MAY_DEFER_TOKEN_CHECK = Symbol('mayDeferTokenCheck');

/** passport-http-bearer: `Authorization: Bearer <token>` → the principal, or a 401. */
@Injectable()
export class BearerStrategy extends PassportStrategy(Strategy, 'bearer') {
  constructor(private readonly tokens: TokensService) {
    super({ passReqToCallback: true });
  }

  async validate(req: { [MAY_DEFER_TOKEN_CHECK]?: boolean; ip?: string }, token: string): Promise<Principal | false> {
    if (req[MAY_DEFER_TOKEN_CHECK] !== true) return (await this.tokens.authenticate(token)) ?? false;
    const found = await this.tokens.authenticateDeferred(token, req.ip || 'unknown');
    if (found?.check) deferTokenCheck(req, found.check);
    return found?.principal ?? false;
  }
}
