import { Global, Module } from '@nestjs/common';
import type {
  DynamicModule,
  InjectionToken,
  ModuleMetadata,
  OptionalFactoryDependency,
} from '@nestjs/common';
import { CRYPTO_OPTIONS } from './crypto.constants';
import type { CryptoOptions } from './crypto.constants';
import { CryptoService } from './crypto.service';

export interface CryptoModuleAsyncOptions extends Pick<ModuleMetadata, 'imports'> {
  inject?: (InjectionToken | OptionalFactoryDependency)[];
  useFactory: (...args: any[]) => CryptoOptions | Promise<CryptoOptions>;
}

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

  /** For options that come from another provider, e.g. the validated config. */
  static forRootAsync(options: CryptoModuleAsyncOptions): DynamicModule {
    return {
      module: CryptoModule,
      imports: options.imports ?? [],
      providers: [
        { provide: CRYPTO_OPTIONS, useFactory: options.useFactory, inject: options.inject ?? [] },
        CryptoService,
      ],
      exports: [CryptoService],
    };
  }
}
