import {
  jobDtoSchema,
  missedPolicies,
  overlapPolicies,
  scheduleDetailSchema,
  scheduleListSchema,
  scheduleNameSchema,
  type JobCreate,
  type ScheduleCreate,
  type ScheduleDetail,
  type ScheduleDto,
  type ScheduleFireDto,
  zonedTime,
} from '@edgestelle/protocol';
import type { Command } from 'commander';
import { usageError } from '../cli-error.ts';
import { connect } from '../credentials.ts';
import { formatDuration, formatSpec, formatTable, formatTarget, formatTime } from '../format.ts';
import { parseDurationMs } from '../parse-args.ts';
import { printJson, type Terminal } from '../terminal.ts';
import { examples } from './help.ts';
import { addJobOptions, jobRequestFromFlags, type JobCliFlags } from './job-flags.ts';

interface CreateFlags extends JobCliFlags {
  cron: string;
  tz: string;
  overlap: string;
  missed: string;
  jitter?: string;
  start?: string;
  end?: string;
  description?: string;
  paused?: boolean;
  json?: boolean;
}

export function addSchedulesVerb(program: Command, terminal: Terminal): void {
  const schedules = program
    .command('schedules')
    .description('saved jobs that run on a cron schedule in a time zone')
    .addHelpText(
      'after',
      examples(
        "edgestelle schedules create nightly-backup --cron '30 2 * * *' --tz Europe/Berlin --tag role=db -- /usr/local/bin/backup",
        'edgestelle schedules list',
        'edgestelle schedules show nightly-backup',
        'edgestelle jobs --schedule nightly-backup',
      ),
    );

  addJobOptions(
    schedules
      .command('create')
      .description('save a job and when it runs')
      .argument('<name>', 'the schedule’s name (lower-case letters, digits, . _ -)')
      .argument('[command...]', 'the command, after --, as for edgestelle run'),
  )
    .requiredOption('--cron <expr>', "5 fields: minute hour day-of-month month day-of-week, e.g. '30 2 * * 1-5'")
    .option('--tz <zone>', 'IANA time zone the cron is read in, e.g. Europe/Berlin', 'UTC')
    .option('--overlap <policy>', `when the last job still runs: ${overlapPolicies.join(', ')}`, 'skip')
    .option('--missed <policy>', `fires missed while no master ran: ${missedPolicies.join(', ')}`, 'run_once')
    .option('--jitter <duration>', 'wait up to this long more at each fire (e.g. 2m), to spread load')
    .option('--start <time>', 'no fire before this date or time (2026-12-24T00:00:00Z)')
    .option('--end <time>', 'no fire after this date or time')
    .option('--description <text>', 'what it is for')
    .option('--paused', 'create it paused (resume it later)')
    .option('--json', 'print the API’s ScheduleDetail as JSON')
    .addHelpText(
      'after',
      `
The job is what edgestelle run takes (targets, command or --file or --script with --param,
--timeout, --concurrency, …); --secret-env cannot be saved in a schedule. Overlap: skip (the
default) drops a fire while the schedule's last job runs, queue runs one such fire when it
ends, allow runs them side by side. Missed: run_once (the default) runs once for all fires
missed while no master ran, skip drops them.
${examples(
  "edgestelle schedules create nightly-backup --cron '30 2 * * *' --tz Europe/Berlin --tag role=db -- /usr/local/bin/backup",
  "edgestelle schedules create rotate --cron '0 */6 * * *' --all --overlap queue --jitter 5m --script rotate-logs --param keep=7",
  "edgestelle schedules create xmas --cron '0 9 24 12 *' --node edge-01 --start 2026-12-01 --end 2026-12-31 -- echo ho",
)}`,
    )
    .action(async (name: string, command: string[], flags: CreateFlags) => {
      const body = await scheduleCreate(terminal, name, command, flags);
      const { api } = await connect(terminal.env);
      const created = await api.post('/api/v1/schedules', scheduleDetailSchema, body);
      if (flags.json === true) printJson(terminal, created);
      else terminal.stdout.write(`Schedule ${created.name} created.\n\n${formatScheduleDetail(created)}\n`);
    });

  schedules
    .command('list')
    .description('every schedule with its next fire and its last')
    .option('--json', 'print the API’s ScheduleDto list as JSON')
    .addHelpText('after', examples('edgestelle schedules list', 'edgestelle schedules list --json'))
    .action(async (flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const { items } = await api.get('/api/v1/schedules', scheduleListSchema);
      if (flags.json === true) printJson(terminal, { items });
      else terminal.stdout.write(items.length === 0 ? 'No schedules.\n' : `${formatScheduleList(items)}\n`);
    });

  schedules
    .command('show')
    .description('a schedule, its next 5 fire times and its last fires with their jobs')
    .argument('<name>')
    .option('--json', 'print the API’s ScheduleDetail as JSON')
    .addHelpText('after', examples('edgestelle schedules show nightly-backup'))
    .action(async (name: string, flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const shown = await api.get(schedulePath(name), scheduleDetailSchema);
      if (flags.json === true) printJson(terminal, shown);
      else terminal.stdout.write(`${formatScheduleDetail(shown)}\n`);
    });

  for (const [verb, what] of [
    ['pause', 'stop firing until resumed'],
    ['resume', 'fire again, from the next cron time (fires meanwhile are not made up)'],
  ] as const) {
    schedules
      .command(verb)
      .description(what)
      .argument('<name>')
      .addHelpText('after', examples(`edgestelle schedules ${verb} nightly-backup`))
      .action(async (name: string) => {
        const { api } = await connect(terminal.env);
        const changed = await api.post(`${schedulePath(name)}/${verb}`, scheduleDetailSchema);
        terminal.stdout.write(
          `Schedule ${changed.name} ${changed.paused ? 'paused' : `resumed; next fire ${formatTime(changed.nextFireAt)}`}.\n`,
        );
      });
  }

  schedules
    .command('run')
    .description('fire now: start the schedule’s job at once (whatever runs already)')
    .argument('<name>')
    .option('--json', 'print the API’s JobDto as JSON')
    .addHelpText(
      'after',
      examples(
        'edgestelle schedules run nightly-backup',
        'edgestelle schedules run nightly-backup --json | jq -r .jobId',
      ),
    )
    .action(async (name: string, flags: { json?: boolean }) => {
      const { api } = await connect(terminal.env);
      const job = await api.post(`${schedulePath(name)}/run`, jobDtoSchema);
      if (flags.json === true) printJson(terminal, job);
      else
        terminal.stdout.write(
          `Job ${job.jobId} started on ${job.nodeCount} node${job.nodeCount === 1 ? '' : 's'}: edgestelle logs ${job.jobId} --follow\n`,
        );
    });

  schedules
    .command('delete')
    .description('delete a schedule and its fire records (its jobs stay)')
    .argument('<name>')
    .addHelpText('after', examples('edgestelle schedules delete nightly-backup'))
    .action(async (name: string) => {
      const { api } = await connect(terminal.env);
      await api.delete(schedulePath(name));
      terminal.stdout.write(`Schedule ${name} deleted.\n`);
    });
}

function schedulePath(name: string): string {
  const checked = scheduleNameSchema.safeParse(name);
  if (!checked.success) throw usageError(`'${name}' is not a schedule name (lower-case letters, digits, . _ -)`);
  return `/api/v1/schedules/${checked.data}`;
}

async function scheduleCreate(
  terminal: Terminal,
  name: string,
  command: string[],
  flags: CreateFlags,
): Promise<ScheduleCreate> {
  const overlap = overlapPolicies.find((p) => p === flags.overlap);
  if (overlap === undefined) throw usageError(`--overlap: '${flags.overlap}' is not ${overlapPolicies.join(', ')}`);
  const missed = missedPolicies.find((p) => p === flags.missed);
  if (missed === undefined) throw usageError(`--missed: '${flags.missed}' is not ${missedPolicies.join(', ')}`);
  if (flags.secretEnv !== undefined) throw usageError('--secret-env cannot be saved in a schedule');
  const { request } = await jobRequestFromFlags(terminal, command, flags);
  return {
    name,
    cron: flags.cron,
    timezone: flags.tz,
    job: request,
    overlap,
    missed,
    paused: flags.paused === true,
    ...(flags.description === undefined ? {} : { description: flags.description }),
    ...(flags.jitter === undefined ? {} : { jitterMs: parseDurationMs(flags.jitter, '--jitter') }),
    ...(flags.start === undefined ? {} : { startAt: parseDate(flags.start, '--start') }),
    ...(flags.end === undefined ? {} : { endAt: parseDate(flags.end, '--end') }),
  };
}

function parseDate(text: string, flag: string): number {
  const at = Date.parse(text);
  if (Number.isNaN(at)) throw usageError(`${flag}: '${text}' is not a date or time (e.g. 2026-12-24T09:00:00Z)`);
  return at;
}

/** What a saved job runs, on one line. */
function formatJobCreateWhat(job: JobCreate): string {
  if (job.script !== undefined) {
    const params = Object.entries(job.params ?? {}).map(([key, value]) => `${key}=${String(value)}`);
    return [`${job.script.name}${job.script.version === undefined ? '' : `@${job.script.version}`}`, ...params].join(
      ' ',
    );
  }
  return job.spec === undefined ? '-' : formatSpec(job.spec);
}

function formatFire(fire: ScheduleFireDto | null): string {
  if (fire === null) return 'never';
  return `${formatTime(fire.firedAt)} ${fire.outcome}`;
}

export function formatScheduleList(items: readonly ScheduleDto[]): string {
  return formatTable(
    ['NAME', 'CRON', 'ZONE', 'STATE', 'NEXT', 'LAST', 'TARGET', 'COMMAND'],
    items.map((s) => [
      s.name,
      s.cron,
      s.timezone,
      s.paused ? 'paused' : s.nextFireAt === null ? 'ended' : 'active',
      formatTime(s.nextFireAt),
      formatFire(s.lastFire),
      formatTarget(s.job.target),
      formatJobCreateWhat(s.job),
    ]),
  );
}

export function formatScheduleDetail(s: ScheduleDetail): string {
  const head = formatTable(
    ['SCHEDULE', s.name],
    [
      ['state', s.paused ? 'paused' : s.nextFireAt === null ? 'ended (no cron time left)' : 'active'],
      ['cron', `${s.cron} (${s.timezone})`],
      ['command', formatJobCreateWhat(s.job)],
      ['target', formatTarget(s.job.target)],
      ['overlap', s.overlap],
      ['missed', s.missed],
      ['jitter', s.jitterMs === 0 ? '-' : formatDuration(s.jitterMs)],
      ['window', `${formatTime(s.startAt)} .. ${formatTime(s.endAt)}`],
      ['queued', formatTime(s.queuedFireAt)],
      ['created', `${formatTime(s.createdAt)} by ${s.createdBy}`],
      ...(s.description === '' ? [] : [['description', s.description]]),
    ],
  );
  const next = s.nextFireTimes.map((at) => `  ${formatTime(at)}  ${zonedTime(at, s.timezone)}`).join('\n');
  const fires =
    s.fires.length === 0
      ? '  none yet'
      : formatTable(
          ['FIRED', 'FOR', 'TRIGGER', 'OUTCOME', 'JOB', 'JOB STATE', 'WHY'],
          s.fires.map((f) => [
            formatTime(f.firedAt),
            formatTime(f.scheduledAt),
            f.trigger,
            f.outcome,
            f.jobId ?? '-',
            f.jobState ?? '-',
            f.reason ?? '',
          ]),
        );
  return `${head}\n\n${s.paused ? 'Would fire (if resumed now)' : 'Next fires'}:\n${next || '  none'}\n\nLast fires:\n${fires}`;
}
