/**
 * A pass over protobuf bytes before protobufjs decodes them: it walks the wire format with an
 * explicit stack (no recursion), reads nothing into objects, and counts what the decoded
 * message would hold against the request's decode budget: records, containers (empty ones
 * too), attributes and labels, the payload bytes mapping will produce, and the nesting depth.
 * protobufjs allocates an object per message as it decodes, which is what made 2.6 million
 * empty records in a 246 KB body cost gigabytes; after this pass it only ever decodes a body
 * the budget allows.
 *
 * Malformed bytes end the walk quietly: protobufjs then reports them, having decoded at most
 * what the walk had already counted.
 */
import { ValidationError } from '../errors';
import type { DecodeBudget } from './decode-budget';

/**
 * What a length-delimited field is to the budget:
 * - `record`: one record (its bytes are its payload), counted in the enclosing message;
 * - `shared`: copied into every record of the enclosing message (resource, scope, labels);
 * - `item`: a container, attribute or label.
 * `message` descends into the field as that message type.
 */
export interface WireField {
  kind: 'record' | 'shared' | 'item';
  message?: () => WireMessage;
}
export type WireMessage = Readonly<Record<number, WireField>>;

interface Frame {
  end: number;
  message: WireMessage;
  records: number;
  shared: number;
}

/** Walks `bytes` as `root`; throws the budget's PayloadTooLarge, or ValidationError past `maxDepth` messages. */
export function scanProtobuf(bytes: Uint8Array, root: WireMessage, budget: DecodeBudget, maxDepth: number): void {
  const stack: Frame[] = [{ end: bytes.length, message: root, records: 0, shared: 0 }];
  let at = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (at >= bytes.length) return -1;
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) return value;
      scale *= 128;
    }
    return -1;
  };
  while (stack.length > 0) {
    const frame = stack[stack.length - 1]!;
    if (at >= frame.end) {
      close(stack.pop()!, stack[stack.length - 1], budget);
      continue;
    }
    const key = varint();
    if (key < 0) return;
    const wireType = key % 8;
    const fieldNumber = Math.floor(key / 8);
    if (wireType === 0) {
      if (varint() < 0) return;
    } else if (wireType === 1) {
      at += 8;
    } else if (wireType === 5) {
      at += 4;
    } else if (wireType === 2) {
      const length = varint();
      if (length < 0 || at + length > frame.end) return;
      const field = frame.message[fieldNumber];
      if (field === undefined) {
        at += length;
        continue;
      }
      if (field.kind === 'record') {
        budget.record();
        budget.payload(length);
        frame.records++;
      } else {
        budget.item();
        if (field.kind === 'shared') frame.shared += length;
      }
      if (field.message) {
        if (stack.length >= maxDepth) {
          throw new ValidationError(`protobuf messages nested deeper than ${maxDepth} levels (3 x MAX_JSON_DEPTH)`);
        }
        stack.push({ end: at + length, message: field.message(), records: 0, shared: 0 });
      } else {
        at += length;
      }
    } else {
      return; // groups (3, 4) and invalid wire types: left to the decoder to refuse
    }
    if (at > frame.end) return;
  }
}

/** A message ends: what it shares is copied into each of its records; its records count in its parent. */
function close(frame: Frame, parent: Frame | undefined, budget: DecodeBudget): void {
  if (frame.shared > 0 && frame.records > 0) budget.payload(frame.shared * frame.records);
  if (parent) parent.records += frame.records;
}
