// snappyjs ships no types. Buffer in, Buffer out under Bun/Node; `maxLength` bounds the declared
// uncompressed length before anything is allocated.
declare module 'snappyjs' {
  export function uncompress(compressed: Uint8Array, maxLength?: number): Uint8Array;
  export function compress(uncompressed: Uint8Array): Uint8Array;
}
