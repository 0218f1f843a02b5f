import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** Node's HTTP parser errors (llhttp's `HPE_*` and Node's own), by code: status, our code, message. */
const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  HPE_HEADER_OVERFLOW: [431, 'HEADERS_TOO_LARGE', 'The request headers are too large'],
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'INVALID_CONTENT_LENGTH', 'The request has more than one Content-Length, or one beside Transfer-Encoding'],
  HPE_INVALID_CONTENT_LENGTH: [400, 'INVALID_CONTENT_LENGTH', 'The Content-Length header is not valid'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'REQUEST_TIMEOUT', 'The request was not received in time'],
};
const MALFORMED: [number, string, string] = [400, 'MALFORMED_REQUEST', 'The request is not valid HTTP/1.1'];

/**
 * Fastify's `clientErrorHandler`: a request Node's HTTP parser refuses (bare CR or LF, a repeated
 * Content-Length, over-long headers, a bad request line) never reaches a route, and Fastify's own
 * answer has no `code`. This gives it the one error shape, with nothing of the request, and closes
 * the connection (the parser cannot go on after an error).
 */
export function replyToClientError(err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? MALFORMED;
  if (socket.writable) {
    const body = JSON.stringify({ statusCode: status, error: STATUS_CODES[status], code, message });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
