import type { ScriptParameter, ScriptParams } from '@edgestelle/protocol';

/** What the form holds per parameter: text for strings, numbers and choices, a flag for booleans. */
export type ParamInput = string | boolean;

export interface ParamProblem {
  kind: 'required' | 'number' | 'integer' | 'min' | 'max' | 'pattern' | 'maxLength' | 'choice';
  /** The bound that was crossed, for the message. */
  limit?: number | string;
}

/** The form's starting values: each parameter's default, else empty. */
export function initialInputs(parameters: readonly ScriptParameter[]): Record<string, ParamInput> {
  const inputs: Record<string, ParamInput> = {};
  for (const p of parameters) {
    if (p.type === 'boolean') inputs[p.name] = p.default ?? false;
    else inputs[p.name] = p.default === undefined ? '' : String(p.default);
  }
  return inputs;
}

/**
 * Checks the form against the parameters as the master will (docs/API.md, `invalid_params`),
 * so an operator learns what is wrong before submitting. Returns the params to send (empty
 * optional fields left out, so the master fills defaults) or the problem per parameter.
 */
export function checkParams(
  parameters: readonly ScriptParameter[],
  inputs: Readonly<Record<string, ParamInput>>,
): { params: ScriptParams; problems: Record<string, ParamProblem> } {
  const params: ScriptParams = {};
  const problems: Record<string, ParamProblem> = {};
  for (const p of parameters) {
    const input = inputs[p.name];
    if (p.type === 'boolean') {
      params[p.name] = input === true;
      continue;
    }
    const text = typeof input === 'string' ? input : '';
    if (text === '') {
      if (p.required && p.default === undefined) problems[p.name] = { kind: 'required' };
      continue;
    }
    const problem = checkValue(p, text);
    if (problem !== null) problems[p.name] = problem;
    else params[p.name] = p.type === 'number' ? Number(text) : text;
  }
  return { params, problems };
}

function checkValue(p: Exclude<ScriptParameter, { type: 'boolean' }>, text: string): ParamProblem | null {
  switch (p.type) {
    case 'string':
      if (p.maxLength !== undefined && text.length > p.maxLength) return { kind: 'maxLength', limit: p.maxLength };
      if (p.pattern !== undefined && !wholeMatch(p.pattern, text)) return { kind: 'pattern', limit: p.pattern };
      return null;
    case 'number': {
      const value = Number(text.trim());
      if (text.trim() === '' || !Number.isFinite(value)) return { kind: 'number' };
      if (p.integer && !Number.isInteger(value)) return { kind: 'integer' };
      if (p.min !== undefined && value < p.min) return { kind: 'min', limit: p.min };
      if (p.max !== undefined && value > p.max) return { kind: 'max', limit: p.max };
      return null;
    }
    case 'choice':
      return p.choices.includes(text) ? null : { kind: 'choice' };
  }
}

/** A pattern the browser cannot compile is left to the master to judge. */
function wholeMatch(pattern: string, text: string): boolean {
  let re: RegExp;
  try {
    re = new RegExp(`^(?:${pattern})$`, 'u');
  } catch {
    return true;
  }
  return re.test(text);
}
