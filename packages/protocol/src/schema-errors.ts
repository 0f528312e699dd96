import type { z } from 'zod';

/** One issue of a failed schema check, named by its field path (`spec.timeoutMs`). */
export interface FieldIssue {
  field: string;
  message: string;
}

export function fieldIssues(error: z.ZodError): FieldIssue[] {
  return error.issues.map((issue) => ({
    field: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/** Every problem at once, each with its field: `spec.timeoutMs: Too small; args.0: …`. */
export function describeIssues(error: z.ZodError, maxIssues = 10): string {
  const issues = fieldIssues(error);
  const shown = issues.slice(0, maxIssues).map((issue) => `${issue.field}: ${issue.message}`);
  if (issues.length > maxIssues) shown.push(`and ${issues.length - maxIssues} more`);
  return shown.join('; ');
}
