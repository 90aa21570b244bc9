/** Reads a request body as UTF-8 text without ever holding more than the configured limit, and parses JSON bodies. */
import { ValidationError } from '../errors';
import { type BodyLimits, readBodyBytes } from './decompress';

const decoder = new TextDecoder('utf-8', { fatal: true });

/** Strict UTF-8 decoding: a malformed byte sequence is a 400, never a replacement character stored. */
export function decodeUtf8(bytes: Uint8Array): string {
  try {
    return decoder.decode(bytes);
  } catch {
    throw new ValidationError('request body is not valid UTF-8');
  }
}

/** The decoded (decompressed) body as text; see decompress.ts for the size bound. */
export async function readBodyText(request: Request, limits: BodyLimits): Promise<string> {
  return decodeUtf8(await readBodyBytes(request, limits));
}

/**
 * JSON.parse for a request body: malformed text is a 400 saying what was malformed, with the
 * parser's message (which names the position) as its detail.
 */
export function parseJsonBody(text: string, what = 'JSON'): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ValidationError(`malformed ${what}`, [{ index: null, field: null, message: (error as Error).message }]);
  }
}
