/** The scaling service's domain errors; their codes and statuses are declared in index.ts. */
import { DomainError, type ErrorDetail } from '../../shared/errors.js';
import type { SCALING_ERRORS } from './index.js';

type Code = keyof typeof SCALING_ERRORS;

/** What one target cannot express of a policy: a trigger (by name) or a feature. */
export interface Unexpressible {
  /** `triggers.<name>`, or the policy field (`minReplicas`, `behavior`, `pause`, …). */
  target: string;
  message: string;
}

/**
 * The policy holds what the manifest's target cannot express. Every such part is listed in
 * `details` (none is dropped silently); `target` names the first.
 */
export const targetCannotExpress = (target: string, problems: readonly Unexpressible[]) =>
  new DomainError<Code>(
    'TargetCannotExpress',
    `The ${target} target cannot express ${problems.map((p) => p.target).join(', ')}: ${problems[0]?.message ?? ''}`,
    problems[0]?.target,
    problems.map((p): ErrorDetail => ({ code: 'TargetCannotExpress', message: p.message, target: p.target })),
  );
