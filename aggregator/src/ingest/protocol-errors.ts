/**
 * The one error path of a shipper route whose clients parse errors in their own protocol's shape
 * (OTLP's google.rpc.Status, the bulk API's error object), not our contract body: every refusal,
 * database outages translated to StorageUnavailable, is answered by the protocol's encoder with
 * its status and Retry-After. Anything else is not a refusal and goes on to app.ts's onError
 * (500, logged with the request id).
 */
import { AppError, fromDatabaseError } from '../errors';

/** Wraps a route handler so that refusals are answered by `encode`. */
export function answeringIn<Context>(
  encode: (error: AppError, context: Context) => Response,
  handle: (context: Context) => Promise<Response>,
): (context: Context) => Promise<Response> {
  return async (context) => {
    try {
      return await handle(context);
    } catch (error) {
      const mapped = fromDatabaseError(error);
      if (mapped instanceof AppError) return encode(mapped, context);
      throw mapped;
    }
  };
}
