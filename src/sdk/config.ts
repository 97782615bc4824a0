/**
 * The one way configs are validated: a zod schema, every problem listed in one definite
 * `CONFIG_INVALID`, values never echoed (a password cannot leak through a message).
 */
import type { z } from 'zod';
import { definite } from './errors.js';

/** Where a config came from and how to fix it, for the error message. */
export interface ConfigOrigin {
  /** What was validated, e.g. `PostgresSource config` or `Kafka sink options`. */
  what: string;
  /** One-line fix hint, e.g. `fix the listed settings (see docs/connectors/exasol.md)`. */
  hint: string;
}

/**
 * The problems of a failed validation, one line each: `path: reason`. `label` renames a
 * top-level key (the CLI names its flags instead of config keys).
 */
export function configProblems(error: z.ZodError, label: (key: string) => string = (key) => key): string[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String);
    const key = path.length === 0 ? '(root)' : [label(path[0]!), ...path.slice(1)].join('.');
    const reason = issue.code === 'unrecognized_keys' ? `unknown key(s) ${issue.keys.join(', ')}` : issue.message;
    // zod messages describe expectations, not values; keep them short anyway.
    return `${key}: ${reason.slice(0, 200)}`;
  });
}

/** Validates `input` with `schema`; throws definite `CONFIG_INVALID` listing every problem. */
export function parseConfig<S extends z.ZodType>(schema: S, input: unknown, origin: ConfigOrigin): z.output<S> {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  throw definite('CONFIG_INVALID', `invalid ${origin.what}: ${configProblems(parsed.error).join('; ')}`, { hint: origin.hint });
}
