/** Protobuf wire encoding by hand, for bodies no encoder would produce (absurd counts, depths). */

export function varint(value: number): Uint8Array {
  const bytes: number[] = [];
  while (value >= 0x80) {
    bytes.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  bytes.push(value);
  return new Uint8Array(bytes);
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A length-delimited field (wire type 2): a string, bytes or an embedded message. */
export function field(fieldNumber: number, bytes: Uint8Array): Uint8Array {
  return concat(varint(fieldNumber * 8 + 2), varint(bytes.length), bytes);
}

/** `count` copies of one field, without building `count` arrays (millions of empty records cost nothing). */
export function repeated(fieldNumber: number, count: number, message: Uint8Array = new Uint8Array(0)): Uint8Array {
  const one = field(fieldNumber, message);
  const out = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) out.set(one, i * one.length);
  return out;
}
