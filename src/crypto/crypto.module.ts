import { Global, Module } from '@nestjs/common';
import type { DynamicModule } from '@nestjs/common';
import { CRYPTO_OPTIONS } from './crypto.constants';
import type { CryptoOptions } from './crypto.constants';
import { CryptoService } from './crypto.service';

@Global()
@Module({})
export class CryptoModule {
  static forRoot(options: CryptoOptions): DynamicModule {
    return {
      module: CryptoModule,
      providers: [{ provide: CRYPTO_OPTIONS, useValue: options }, CryptoService],
      exports: [CryptoService],
    };
  }
}
