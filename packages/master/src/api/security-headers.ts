import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { MasterErrorCode } from '../errors.ts';

/**
 * The Content-Security-Policy of every answer, the console's and the API docs' pages alike.
 * Scripts come only from our own files: neither the console's build nor Swagger UI has an
 * inline script, and nothing of ours evaluates strings as code. Every fetch stays on our
 * origin; `connect-src 'self'` covers the live hub's ws:/wss: on the same host and port.
 *
 * Styles allow 'unsafe-inline' for the <style> elements xterm.js creates at run time (its theme
 * colours and cell sizes) and Swagger UI injects; neither can be given a nonce, and their text
 * changes with the theme and the window. (Element Plus's positions and sizes are set through
 * `element.style`, which CSP does not govern.) Inline CSS cannot run script, and with every
 * fetch directive at 'self' it cannot send what it reads anywhere either. `data:` images are
 * the icons in Element Plus's and Swagger UI's CSS and the console's favicon.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Sent with every HTTP answer of the master: API, console files, errors, 404s, metrics, docs. */
export const securityHeaders: Readonly<Record<string, string>> = {
  'content-security-policy': CONTENT_SECURITY_POLICY,
  // frame-ancestors for browsers that predate it.
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  // Output links open other sites; a job's address is nobody else's business.
  'referrer-policy': 'no-referrer',
};

/**
 * Answers a request Node's HTTP parser refused (malformed, headers too large, too slow) as
 * fastify's own handler does, with the security headers: such answers never reach a hook.
 */
export function clientErrorHandler(this: { log: FastifyBaseLogger }, err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const body = JSON.stringify({
    code: MasterErrorCode.invalidRequest,
    message: `the HTTP request could not be read (${err.code ?? 'malformed'})`,
  });
  this.log.debug({ err }, 'refused a malformed HTTP request');
  if (socket.writable) {
    const headers = Object.entries({
      ...securityHeaders,
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      connection: 'close',
    }).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${headers.join('')}\r\n${body}`);
  }
  socket.destroy(err);
}
