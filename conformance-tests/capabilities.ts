/**
 * Capability requirements of checks, and validation of a source's declared capabilities.
 */
import type { SourceCapabilities } from '../src/sdk/source.js';
import type { CapabilityRequirement } from './types.js';

/** Every capability and its allowed values. */
export const CAPABILITY_VALUES: { [K in keyof SourceCapabilities]: readonly SourceCapabilities[K][] } = {
  changes: ['log', 'poll', 'none'],
  deletes: [true, false],
  exactlyOnce: [true, false],
  midSnapshotResume: [true, false],
  transactions: [true, false],
  schemaEvolution: [true, false],
};

export const CAPABILITY_NAMES = Object.keys(CAPABILITY_VALUES) as (keyof SourceCapabilities)[];

/** Problems with a declared capabilities object (empty when valid). */
export function capabilityProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [`capabilities is ${value === null ? 'null' : typeof value}, expected an object`];
  const problems: string[] = [];
  const record = value as Record<string, unknown>;
  for (const name of CAPABILITY_NAMES) {
    const allowed = CAPABILITY_VALUES[name] as readonly unknown[];
    if (!allowed.includes(record[name]))
      problems.push(
        `capabilities.${name} is ${JSON.stringify(record[name])}, expected one of ${allowed.map((v) => JSON.stringify(v)).join(' | ')}`,
      );
  }
  return problems;
}

/** The requirement entries a set of capabilities does not meet, as text (empty when met). */
export function unmetRequirements(requires: CapabilityRequirement | undefined, caps: SourceCapabilities): string[] {
  if (!requires) return [];
  const unmet: string[] = [];
  for (const name of Object.keys(requires) as (keyof SourceCapabilities)[]) {
    const want = requires[name];
    const accepted = (Array.isArray(want) ? want : [want]) as unknown[];
    if (!accepted.includes(caps[name])) {
      unmet.push(`needs ${name} = ${accepted.map((v) => JSON.stringify(v)).join(' | ')} (source declares ${JSON.stringify(caps[name])})`);
    }
  }
  return unmet;
}

/** A requirement as short text for docs, e.g. `changes ∈ {log, poll}, deletes`. */
export function requirementText(requires: CapabilityRequirement | undefined): string {
  if (!requires || Object.keys(requires).length === 0) return '–';
  return (Object.keys(requires) as (keyof SourceCapabilities)[])
    .map((name) => {
      const want = requires[name];
      if (Array.isArray(want)) return `${name} ∈ {${want.join(', ')}}`;
      if (want === true) return name;
      if (want === false) return `¬${name}`;
      return `${name} = ${String(want)}`;
    })
    .join(', ');
}
