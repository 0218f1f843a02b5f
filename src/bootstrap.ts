import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import type { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { AppModule } from './app.module';
import { AppEnv } from './common/env';
import { JsonLogger } from './common/logger';
import { requestContextMiddleware } from './common/request-context';

export const JSON_BODY_LIMIT = '1mb';

/** Methods that carry a body must send it as JSON; anything else is a 415 before it is parsed. */
function requireJson(req: Request, res: Response, next: NextFunction): void {
  const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
  if (hasBody && ['POST', 'PUT', 'PATCH', 'DELETE'].includes(req.method) && !req.is('application/json')) {
    res.status(415).json({ statusCode: 415, error: 'Unsupported Media Type', code: 'UNSUPPORTED_MEDIA_TYPE', message: 'Send the body as application/json' });
    return;
  }
  next();
}

/** Builds the configured application (routes, pipes, Swagger, security headers) without listening. */
export async function createApp(env: AppEnv, logger = new JsonLogger(env.logLevel)): Promise<INestApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(env), {
    logger,
    bodyParser: false,
    abortOnError: false,
  });
  app.disable('x-powered-by');
  app.use(requestContextMiddleware);
  app.use(helmet());
  if (env.corsOrigins.length > 0) app.enableCors({ origin: env.corsOrigins, allowedHeaders: ['Authorization', 'Content-Type', 'X-Bifrost-Org', 'X-Bifrost-Execution', 'X-Request-Id'] });
  app.use(requireJson);
  app.useBodyParser('json', { limit: JSON_BODY_LIMIT });
  app.enableShutdownHooks();

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Bifrost config & secrets service')
      .setDescription(
        'Typed configs and Fernet-encrypted secrets for the Bifrost workflow platform. Secrets are shown as `••••••` everywhere; ' +
          'only the SDK read returns one, to a service token. Every error is `{statusCode, error, code, message}`.',
      )
      .setVersion('1')
      .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'An API token (`bft_...`)' })
      .build(),
  );
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs-json', swaggerOptions: { persistAuthorization: true } });
  return app;
}
