/**
 * OpenAPI fragments built from the TypeBox schemas that validate requests, so the document and
 * the validation cannot drift. TypeBox schemas are JSON Schema; only the static types differ.
 */
import type { TSchema } from '@sinclair/typebox';
import type { OpenAPIV3 } from 'openapi-types';

/** `content` of a request body or response carrying `schema` as JSON. */
export function jsonContent(schema: TSchema): Record<string, OpenAPIV3.MediaTypeObject> {
  return { 'application/json': { schema: schema as OpenAPIV3.SchemaObject } };
}
