/**
 * Query strings, shared by the read routes: one strict parser that names the offending
 * parameter, and the OpenAPI parameters derived from the same schema.
 */
import type { TObject } from '@sinclair/typebox';
import { ValidationError, type SchemaIssue, schemaDetails } from '../errors';

/** A compiled TypeBox check (TypeCompiler.Compile(schema)). */
export interface QueryCheck {
  Check(value: unknown): boolean;
  Errors(value: unknown): Iterable<SchemaIssue>;
}

/**
 * Validates a query string against a schema and names the offending parameter. Elysia's own
 * query validation reports coercion failures without the parameter's name, so we do it here.
 */
export function parseQuery<T>(schema: TObject, check: QueryCheck, raw: Record<string, string | undefined>): T {
  // Strict coercion: only a whole decimal number becomes an integer ("1.5" and "1e3" stay
  // strings and fail the check; TypeBox's Value.Convert would truncate them).
  const value: Record<string, unknown> = { ...raw };
  for (const [name, property] of Object.entries(schema.properties)) {
    const text = value[name];
    if ((property as { type?: string }).type === 'integer' && typeof text === 'string' && /^-?\d{1,15}$/.test(text)) {
      value[name] = Number(text);
    }
  }
  if (check.Check(value)) return value as T;
  throw new ValidationError('invalid query parameters', schemaDetails(check.Errors(value), null));
}

/** OpenAPI parameters for a query schema, so the docs come from the validating schema. */
export function queryParameters(schema: TObject) {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties).map(([name, property]) => ({
    name,
    in: 'query' as const,
    required: required.has(name),
    schema: property,
    description: (property as { description?: string }).description,
  }));
}
