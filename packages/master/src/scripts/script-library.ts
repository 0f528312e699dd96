import {
  interpreterSchema,
  scriptParameterSchema,
  type RunSpec,
  type ScriptDto,
  type ScriptParams,
  type ScriptRef,
  type ScriptSummaryDto,
  type ScriptVersionDto,
  type scriptListQuerySchema,
  type scriptSaveSchema,
} from '@edgestelle/protocol';
import { sql, type Kysely, type Selectable } from 'kysely';
import { z } from 'zod';
import type { Actor, AuditLog } from '../audit/audit-log.ts';
import type { Clock } from '../clock.ts';
import { cursorString, decodeCursor, encodeCursor } from '../db/cursor.ts';
import type { Database, ScriptsTable } from '../db/schema.ts';
import { MasterError, MasterErrorCode, notFound } from '../errors.ts';
import { bindParams } from './script-params.ts';

export type ScriptSaveInput = z.output<typeof scriptSaveSchema>;

export interface ResolvedScript {
  spec: RunSpec;
  script: ScriptRef;
  params: ScriptParams;
}

const parametersSchema = z.array(scriptParameterSchema);

/**
 * Named scripts, every saved version kept (`(name, version)` rows, never updated). A job
 * resolves a name to one exact version and records it; later saves do not change what an old
 * job ran.
 */
export class ScriptLibrary {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly clock: Clock,
    private readonly audit: AuditLog,
  ) {}

  /** Saves a new version unless the content equals the newest one. `created` is true for version 1. */
  async save(name: string, input: ScriptSaveInput, actor: Actor): Promise<{ script: ScriptDto; created: boolean }> {
    input.parameters.forEach((parameter, index) => {
      if (parameter.type !== 'string' || parameter.pattern === undefined) return;
      try {
        new RegExp(parameter.pattern, 'u');
      } catch (cause) {
        throw new MasterError(
          MasterErrorCode.invalidRequest,
          `parameter ${parameter.name}: the pattern is not a valid regular expression`,
          {
            field: `parameters.${index}.pattern`,
            cause,
          },
        );
      }
    });
    const nowMs = this.clock.now();
    return this.db.transaction().execute(async (trx) => {
      const latest = await latestRow(trx, name);
      if (latest !== undefined && sameContent(latest, input)) {
        return { script: scriptDto(latest, latest.version), created: false };
      }
      const row: Selectable<ScriptsTable> = {
        name,
        version: (latest?.version ?? 0) + 1,
        interpreter: input.interpreter,
        body: input.body,
        description: input.description,
        parameters: JSON.stringify(input.parameters),
        timeout_ms: input.timeoutMs,
        created_at: nowMs,
        created_by: actor.name,
      };
      // Two saves at once: the primary key lets one win; the other is told to retry.
      const inserted = await trx
        .insertInto('scripts')
        .values(row)
        .onConflict((oc) => oc.columns(['name', 'version']).doNothing())
        .returning('version')
        .executeTakeFirst();
      if (inserted === undefined) {
        throw new MasterError(
          MasterErrorCode.conflict,
          `script ${name} was saved by someone else just now: reload and save again`,
        );
      }
      await this.audit.record(trx, {
        actor,
        action: 'script.save',
        target: `script:${name}`,
        details: { version: row.version },
      });
      return { script: scriptDto(row, row.version), created: row.version === 1 };
    });
  }

  async get(name: string, version?: number): Promise<ScriptDto> {
    const latest = await latestRow(this.db, name);
    if (latest === undefined) throw notFound(`script ${name}`);
    if (version === undefined || version === latest.version) return scriptDto(latest, latest.version);
    const row = await this.db
      .selectFrom('scripts')
      .selectAll()
      .where('name', '=', name)
      .where('version', '=', version)
      .executeTakeFirst();
    if (row === undefined) throw notFound(`version ${version} of script ${name}`);
    return scriptDto(row, latest.version);
  }

  async versions(name: string): Promise<ScriptVersionDto[]> {
    const rows = await this.db
      .selectFrom('scripts')
      .select(['name', 'version', 'description', 'created_at', 'created_by'])
      .where('name', '=', name)
      .orderBy('version', 'desc')
      .execute();
    if (rows.length === 0) throw notFound(`script ${name}`);
    return rows.map((r) => ({
      name: r.name,
      version: r.version,
      description: r.description,
      createdAt: r.created_at,
      createdBy: r.created_by,
    }));
  }

  async list(
    query: z.output<typeof scriptListQuerySchema>,
  ): Promise<{ items: ScriptSummaryDto[]; nextCursor: string | null }> {
    let q = this.db
      .selectFrom('scripts as s')
      .selectAll('s')
      .where(({ eb, selectFrom }) =>
        eb(
          's.version',
          '=',
          selectFrom('scripts as v')
            .select((v) => v.fn.max('v.version').as('m'))
            .whereRef('v.name', '=', 's.name'),
        ),
      )
      .orderBy('s.name')
      .limit(query.limit + 1);
    if (query.cursor !== undefined) q = q.where('s.name', '>', cursorString(decodeCursor(query.cursor, 1)[0]));
    if (query.q !== undefined && query.q !== '') {
      const needle = `%${query.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      q = q.where(
        sql<boolean>`(lower(s.name) LIKE ${needle} ESCAPE '\\' OR lower(s.description) LIKE ${needle} ESCAPE '\\')`,
      );
    }
    const rows = await q.execute();
    const page = rows.slice(0, query.limit);
    const last = page.at(-1);
    return {
      items: page.map((row) => {
        const { body, version, ...summary } = scriptDto(row, row.version);
        void body;
        void version;
        return summary;
      }),
      nextCursor: rows.length > query.limit && last !== undefined ? encodeCursor([last.name]) : null,
    };
  }

  /** The run spec a job of this script runs: its body unchanged, the params as `PARAM_*` variables. */
  async resolve(
    ref: { name: string; version?: number | undefined },
    params: ScriptParams,
    timeoutMs: number | undefined,
  ): Promise<ResolvedScript> {
    let script: ScriptDto;
    try {
      script = await this.get(ref.name, ref.version);
    } catch (err) {
      if (err instanceof MasterError && err.code === MasterErrorCode.notFound) {
        throw new MasterError(MasterErrorCode.notFound, err.message, { field: 'script' });
      }
      throw err;
    }
    const bound = bindParams(script.parameters, params);
    return {
      spec: {
        script: { interpreter: script.interpreter, body: script.body },
        args: [],
        env: bound.env,
        timeoutMs: timeoutMs ?? script.timeoutMs,
        killGraceMs: 5000,
        pty: false,
      },
      script: { name: script.name, version: script.version },
      params: bound.values,
    };
  }
}

async function latestRow(db: Kysely<Database>, name: string): Promise<Selectable<ScriptsTable> | undefined> {
  return db
    .selectFrom('scripts')
    .selectAll()
    .where('name', '=', name)
    .orderBy('version', 'desc')
    .limit(1)
    .executeTakeFirst();
}

function sameContent(row: Selectable<ScriptsTable>, input: ScriptSaveInput): boolean {
  return (
    row.interpreter === input.interpreter &&
    row.body === input.body &&
    row.description === input.description &&
    row.timeout_ms === input.timeoutMs &&
    row.parameters === JSON.stringify(input.parameters)
  );
}

function scriptDto(row: Selectable<ScriptsTable>, latestVersion: number): ScriptDto {
  return {
    name: row.name,
    version: row.version,
    latestVersion,
    interpreter: interpreterSchema.parse(row.interpreter),
    body: row.body,
    description: row.description,
    parameters: parametersSchema.parse(JSON.parse(row.parameters)),
    timeoutMs: row.timeout_ms,
    createdAt: row.created_at,
    createdBy: row.created_by,
  };
}
