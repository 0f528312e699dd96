import { createHmac } from 'node:crypto';
import type { AttemptResult } from './webhook-queue.ts';

/** `sha256=<hex>`: HMAC-SHA256 of the exact body bytes under the webhook's secret (GitHub's form). */
export function signature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/**
 * One POST of a delivery's body. Never throws: a refused connection, a timeout or an abort is
 * an attempt without a status. Redirects are not followed (a 3xx is an answer that failed).
 * The answer's body is not read beyond its start, so a receiver cannot make the master hold much.
 */
export async function postDelivery(options: {
  url: string;
  body: string;
  secret: string;
  deliveryId: string;
  event: string;
  timeoutMs: number;
  signal: AbortSignal;
  now: () => number;
}): Promise<AttemptResult> {
  const at = options.now();
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  try {
    const response = await fetch(options.url, {
      method: 'POST',
      redirect: 'manual',
      headers: {
        'content-type': 'application/json',
        'user-agent': 'EdgeStelle-Webhook/1',
        'x-edgestelle-event': options.event,
        'x-edgestelle-delivery': options.deliveryId,
        'x-edgestelle-signature': signature(options.secret, options.body),
      },
      body: options.body,
      signal: AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]),
    });
    await response.body?.cancel();
    const ok = response.status >= 200 && response.status < 300;
    return { at, durationMs: elapsed(), status: response.status, error: ok ? null : `HTTP ${response.status}` };
  } catch (err) {
    const timedOut = err instanceof Error && err.name === 'TimeoutError';
    const message = timedOut
      ? `no answer within ${options.timeoutMs} ms`
      : err instanceof Error
        ? `${err.message}${err.cause instanceof Error ? `: ${err.cause.message}` : ''}`
        : String(err);
    return { at, durationMs: elapsed(), status: null, error: message.slice(0, 500) };
  }
}
