import { Injectable } from '@nestjs/common';
import { PassportStrategy } from '@nestjs/passport';
import { Strategy } from 'passport-http-bearer';
import { Principal } from './roles';
import { TokensService } from './tokens.service';

/** Set on the request by the guard on @TokenCheckedByHandler routes. */
export const TOKEN_CHECKED_BY_HANDLER = Symbol('tokenCheckedByHandler');

/** passport-http-bearer: `Authorization: Bearer <token>` → the principal, or a 401. */
@Injectable()
export class BearerStrategy extends PassportStrategy(Strategy, 'bearer') {
  constructor(private readonly tokens: TokensService) {
    super({ passReqToCallback: true });
  }

  async validate(req: { [TOKEN_CHECKED_BY_HANDLER]?: boolean }, token: string): Promise<Principal | false> {
    return (await this.tokens.authenticate(token, req[TOKEN_CHECKED_BY_HANDLER] === true)) ?? false;
  }
}
