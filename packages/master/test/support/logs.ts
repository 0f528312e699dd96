import { Writable } from 'node:stream';
import { pino, type Level, type Logger } from 'pino';
import { z } from 'zod';

const logLine = z.object({ level: z.number(), msg: z.string() });
export type LogLine = z.infer<typeof logLine>;

/** A real pino logger whose lines, from `level` up, land in `logged` (each parsed). */
export function capturingLogger(level: Level): { logger: Logger; logged: LogLine[] } {
  const logged: LogLine[] = [];
  const logger = pino(
    { level },
    new Writable({
      write(line: Buffer, _encoding, done) {
        logged.push(logLine.parse(JSON.parse(line.toString())));
        done();
      },
    }),
  );
  return { logger, logged };
}
