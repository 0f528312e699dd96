import type { z } from 'zod';
import { formatDuration } from './format.ts';

/**
 * A job the CLI built from flags is checked by the API's schema (jobCreateSchema) before it is
 * sent; its issues name API fields (`spec.timeoutMs`), which the operator never typed. Each is
 * told by the flag that set it, with durations in the units the flag takes.
 */
const FLAG_BY_FIELD: readonly (readonly [RegExp, string])[] = [
  [/^spec\.cwd$/, '--cwd'],
  [/^(spec\.)?timeoutMs$/, '--timeout'],
  [/^spec\.env(\.|$)/, '--env'],
  [/^spec\.pty$/, '--pty'],
  [/^spec\.mergeStderr$/, '--merge-stderr'],
  [/^spec\.command$/, 'the command after --'],
  [/^spec\.script\.interpreter$/, '--interpreter'],
  [/^spec\.script(\.|$)/, '--file'],
  [/^spec\.args(\.|$)/, 'the arguments after --'],
  [/^target\.nodeIds(\.|$)/, '--node'],
  [/^target\.tags(\.|$)/, '--tag'],
  [/^target(\.|$)/, 'the targets (--node, --tag or --all)'],
  [/^concurrency(\.|$)/, '--concurrency'],
  [/^maxFailures(\.|$)/, '--max-failures'],
  [/^offlineDeadlineMs$/, '--deadline'],
  [/^secretEnv(\.|$)/, '--secret-env'],
  [/^params(\.|$)/, '--param'],
  [/^script\.name$/, '--script'],
  [/^script\.version$/, '--version'],
];

const DURATION_FIELD = /(^|\.)(timeoutMs|offlineDeadlineMs)$/;

export function flagOfField(field: string): string | undefined {
  return FLAG_BY_FIELD.find(([pattern]) => pattern.test(field))?.[1];
}

/** `--timeout: must be at least 1s; --cwd: must be an absolute path`. */
export function describeFlagIssues(error: z.ZodError, maxIssues = 10): string {
  const shown = error.issues.slice(0, maxIssues).map((issue) => {
    const field = issue.path.map(String).join('.');
    return `${flagOfField(field) ?? (field === '' ? 'the job' : field)}: ${flagMessage(field, issue)}`;
  });
  if (error.issues.length > maxIssues) shown.push(`and ${error.issues.length - maxIssues} more`);
  return shown.join('; ');
}

function flagMessage(field: string, issue: z.core.$ZodIssue): string {
  if (DURATION_FIELD.test(field)) {
    if (issue.code === 'too_small') return `must be at least ${formatDuration(Number(issue.minimum))}`;
    if (issue.code === 'too_big') return `must be at most ${formatDuration(Number(issue.maximum))}`;
  }
  return issue.message;
}
