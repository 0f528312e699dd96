import type { ScriptParameter, ScriptParameterInput } from '@edgestelle/protocol';

/** One row of the parameters editor: every field as the form holds it (text for numbers and lists). */
export interface ParamDraft {
  name: string;
  type: ScriptParameter['type'];
  description: string;
  required: boolean;
  /** Text for string, number and choice; 'true'/'false' for boolean; '' for none. */
  defaultText: string;
  /** Choices, one per comma. */
  choicesText: string;
  pattern: string;
  minText: string;
  maxText: string;
  integer: boolean;
}

export function emptyDraft(): ParamDraft {
  return {
    name: '',
    type: 'string',
    description: '',
    required: false,
    defaultText: '',
    choicesText: '',
    pattern: '',
    minText: '',
    maxText: '',
    integer: false,
  };
}

export function toDraft(p: ScriptParameter): ParamDraft {
  const draft: ParamDraft = {
    ...emptyDraft(),
    name: p.name,
    type: p.type,
    description: p.description,
    required: p.required,
    defaultText: p.default === undefined ? '' : String(p.default),
  };
  switch (p.type) {
    case 'string':
      return { ...draft, pattern: p.pattern ?? '' };
    case 'number':
      return { ...draft, minText: p.min?.toString() ?? '', maxText: p.max?.toString() ?? '', integer: p.integer };
    case 'choice':
      return { ...draft, choicesText: p.choices.join(', ') };
    case 'boolean':
      return draft;
  }
}

const optionalNumber = (text: string): number | undefined => (text.trim() === '' ? undefined : Number(text));

/** What the master is sent; it validates the rest and names the field at fault (`parameters.2.name`). */
export function fromDraft(d: ParamDraft): ScriptParameterInput {
  const common = { name: d.name.trim(), description: d.description, required: d.required };
  const hasDefault = d.defaultText.trim() !== '';
  switch (d.type) {
    case 'string':
      return {
        ...common,
        type: 'string',
        ...(hasDefault ? { default: d.defaultText } : {}),
        ...(d.pattern === '' ? {} : { pattern: d.pattern }),
      };
    case 'number': {
      const min = optionalNumber(d.minText);
      const max = optionalNumber(d.maxText);
      return {
        ...common,
        type: 'number',
        integer: d.integer,
        ...(hasDefault ? { default: Number(d.defaultText) } : {}),
        ...(min === undefined ? {} : { min }),
        ...(max === undefined ? {} : { max }),
      };
    }
    case 'boolean':
      return { ...common, type: 'boolean', ...(hasDefault ? { default: d.defaultText === 'true' } : {}) };
    case 'choice':
      return {
        ...common,
        type: 'choice',
        choices: d.choicesText
          .split(',')
          .map((c) => c.trim())
          .filter((c) => c !== ''),
        ...(hasDefault ? { default: d.defaultText.trim() } : {}),
      };
  }
}
