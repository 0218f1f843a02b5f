import helmet from 'helmet';
import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { AppModule } from './app.module';
import { replyToFrameworkError } from './common/all-exceptions.filter';
import { AppEnv } from './common/env';
import { JSON_BODY_LIMIT, registerJsonBody } from './common/json-body';
import { JsonLogger } from './common/logger';
import { registerRequestContext } from './common/request-context';
import { registerTokenCheckBackstop } from './common/token-check-backstop';

const draining = new WeakSet<object>();

/**
 * Graceful shutdown, in this order: stop accepting, let in-flight requests finish (each answered
 * with `Connection: close`, so keep-alive clients let go) and drop idle connections; then Nest's
 * shutdown (queued audit entries, then the database pool). Nest's own signal hooks would close the
 * pool first, under requests still running.
 */
export async function shutdown(app: NestFastifyApplication): Promise<void> {
  const fastify = app.getHttpAdapter().getInstance();
  draining.add(fastify);
  await fastify.close();
  await app.close();
}

/**
 * Builds the configured application (routes, pipes, Swagger, security headers) without listening.
 * Fastify, not Express: on an authenticated read it served 3.6x the requests (README, "Why Fastify").
 */
export async function createApp(env: AppEnv, logger = new JsonLogger(env.logLevel)): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({
    bodyLimit: JSON_BODY_LIMIT,
    // TRUST_PROXY: only these proxies' X-Forwarded-For sets request.ip (the throttle's and the audit
    // log's client address); from any other peer the header is ignored.
    trustProxy: env.trustProxy.length > 0 ? env.trustProxy : false,
    return503OnClosing: true,
    // A config key may be 255 characters (API.md); Fastify's default limit of 100 answered longer
    // valid keys with a 414. Room for a percent-encoded bad key too, so it gets its INVALID_KEY.
    routerOptions: { maxParamLength: 1024 },
    frameworkErrors: replyToFrameworkError,
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot(env), adapter, {
    logger,
    bodyParser: false,
    abortOnError: false,
  });
  const fastify = app.getHttpAdapter().getInstance();
  registerRequestContext(fastify);
  registerJsonBody(fastify);
  fastify.addHook('onSend', async (_req, reply, payload) => {
    if (draining.has(fastify)) reply.header('Connection', 'close');
    return payload;
  });
  registerTokenCheckBackstop(fastify);
  // Swagger UI needs its own inline styles and data: images; everything else stays at helmet's defaults.
  // Built once and applied to every response: @fastify/helmet built a new helmet middleware (and
  // parsed the CSP again) on each request, a measurable share of a read's CPU.
  const securityHeaders = helmet({
    contentSecurityPolicy: { directives: { 'img-src': ["'self'", 'data:'], 'style-src': ["'self'", "'unsafe-inline'"] } },
  });
  fastify.addHook('onRequest', (req, reply, done) => securityHeaders(req.raw, reply.raw, (err) => done(err as Error | undefined)));
  if (env.corsOrigins.length > 0) {
    app.enableCors({ origin: env.corsOrigins, allowedHeaders: ['Authorization', 'Content-Type', 'X-Bifrost-Org', 'X-Bifrost-Execution', 'X-Request-Id'] });
  }

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

export type { INestApplication };
