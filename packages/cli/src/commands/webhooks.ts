import {
  webhookCreatedSchema,
  webhookDeliveryListSchema,
  webhookEvents,
  webhookListSchema,
  type WebhookDeliveryDto,
  type WebhookDto,
  type WebhookEvent,
} from '@edgestelle/protocol';
import type { Command } from 'commander';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { formatTable, formatTime } from '../format.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { collect, examples } from './help.ts';
import { printSecret } from './tokens.ts';

export function addWebhooksVerb(program: Command, terminal: Terminal): void {
  const webhooks = program
    .command('webhooks')
    .description('tell other systems when jobs end, pause, schedules fail or nodes go offline (admin)')
    .addHelpText(
      'after',
      examples(
        'edgestelle webhooks create https://chat.example.com/hooks/ops --event job.finished --event node.offline',
        'edgestelle webhooks list',
        'edgestelle webhooks deliveries 01jd3v7k2m9q8r5t4w6x8y0z2a',
      ),
    );

  webhooks
    .command('create')
    .description('add a webhook and print its signing secret once')
    .argument('<url>', 'http:// or https:// URL that receives a JSON POST per event')
    .option('--event <event>', `what to send: ${webhookEvents.join(', ')} (repeatable)`, collect)
    .option('--description <text>', 'what it is for')
    .option('--json', 'print the API’s WebhookCreated as JSON')
    .addHelpText(
      'after',
      `
Each POST carries X-EdgeStelle-Event, X-EdgeStelle-Delivery (the body's id; the same on every
retry) and X-EdgeStelle-Signature: sha256=<hex HMAC-SHA256 of the body, keyed with the secret>.
A receiver that does not answer 2xx within 10 s is tried again with backoff (30 s, doubling,
at most hourly) for a day.
${examples(
  'edgestelle webhooks create https://chat.example.com/hooks/ops --event job.finished --event job.paused',
  'edgestelle webhooks create https://pager.example.com/in --event node.offline --description "on-call"',
)}`,
    )
    .action(async (url: string, flags: { event?: string[]; description?: string; json?: boolean }) => {
      const events = parseEvents(flags.event ?? []);
      const { api } = await connect(terminal.env);
      const created = await api.post('/api/v1/webhooks', webhookCreatedSchema, {
        url,
        events,
        ...(flags.description === undefined ? {} : { description: flags.description }),
      });
      if (flags.json === true) printJson(terminal, created);
      else
        printSecret(
          terminal,
          created.secret,
          `Webhook ${created.webhookId} created for ${created.events.join(', ')}`,
          'Check X-EdgeStelle-Signature with it: sha256=<hex HMAC-SHA256 of the body>.\n',
        );
    });

  webhooks
    .command('list')
    .description('webhooks with their events and the last day’s deliveries')
    .option('--json', 'print the API’s WebhookDto list as JSON')
    .addHelpText('after', examples('edgestelle webhooks list', 'edgestelle webhooks list --json'))
    .action(async (flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const { items } = await api.get('/api/v1/webhooks', webhookListSchema);
      if (flags.json === true) printJson(terminal, { items });
      else terminal.stdout.write(items.length === 0 ? 'No webhooks.\n' : `${formatWebhooks(items)}\n`);
    });

  webhooks
    .command('delete')
    .description('delete a webhook (its queued deliveries go with it)')
    .argument('<id>')
    .addHelpText('after', examples('edgestelle webhooks delete 01jd3v7k2m9q8r5t4w6x8y0z2a'))
    .action(async (id: string) => {
      const { api } = await connect(terminal.env);
      await api.delete(`/api/v1/webhooks/${encodeURIComponent(id)}`);
      terminal.stdout.write(`Webhook ${id} deleted.\n`);
    });

  webhooks
    .command('deliveries')
    .description('a webhook’s last 50 deliveries, each attempt with its answer')
    .argument('<id>')
    .option('--json', 'print the API’s WebhookDeliveryDto list as JSON (bodies included)')
    .addHelpText('after', examples('edgestelle webhooks deliveries 01jd3v7k2m9q8r5t4w6x8y0z2a'))
    .action(async (id: string, flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const { items } = await api.get(
        `/api/v1/webhooks/${encodeURIComponent(id)}/deliveries`,
        webhookDeliveryListSchema,
      );
      if (flags.json === true) printJson(terminal, { items });
      else terminal.stdout.write(items.length === 0 ? 'No deliveries yet.\n' : `${formatDeliveries(items)}\n`);
    });
}

function parseEvents(given: readonly string[]): WebhookEvent[] {
  if (given.length === 0) throw usageError(`give at least one --event: ${webhookEvents.join(', ')}`);
  return given.map((text) => {
    const event = webhookEvents.find((e) => e === text);
    if (event === undefined) throw usageError(`--event: '${text}' is not one of ${webhookEvents.join(', ')}`);
    return event;
  });
}

function formatWebhooks(items: readonly WebhookDto[]): string {
  return formatTable(
    ['ID', 'URL', 'EVENTS', 'LAST DAY', 'CREATED'],
    items.map((w) => [
      w.webhookId,
      w.url,
      w.events.join(','),
      `${w.recent.delivered} delivered · ${w.recent.pending} pending · ${w.recent.failed} failed`,
      `${formatTime(w.createdAt)} by ${w.createdBy}`,
    ]),
  );
}

function formatDeliveries(items: readonly WebhookDeliveryDto[]): string {
  return formatTable(
    ['DELIVERY', 'EVENT', 'CREATED', 'STATE', 'ATTEMPTS', 'NEXT'],
    items.map((d) => [
      d.deliveryId,
      d.event,
      formatTime(d.createdAt),
      d.state,
      d.attempts.map((a) => `${formatTime(a.at)} ${a.status ?? a.error ?? '?'} (${a.durationMs} ms)`).join('; ') || '-',
      formatTime(d.nextAttemptAt),
    ]),
  );
}
