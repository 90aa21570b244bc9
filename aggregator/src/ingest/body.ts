/** Reads a request body as UTF-8 text without ever holding more than the configured limit. */
import { PayloadTooLarge, ValidationError } from '../errors';

const decoder = new TextDecoder('utf-8', { fatal: true });

export async function readBodyText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () => new PayloadTooLarge(`request body exceeds MAX_BODY_BYTES (${maxBytes} bytes)`);
  const declared = Number(request.headers.get('content-length') ?? Number.NaN);
  if (declared > maxBytes) throw tooLarge();
  if (request.body === null) return '';

  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  try {
    return decoder.decode(Buffer.concat(chunks, size));
  } catch {
    throw new ValidationError('request body is not valid UTF-8');
  }
}
