const strictDecoder = new TextDecoder("utf-8", { fatal: true });
const lossyDecoder = new TextDecoder("utf-8", { fatal: false });

export type DecodedText = { text: string; lossy: boolean };

// Git stores bytes, not text: anything that is not valid UTF-8 is decoded with U+FFFD and flagged
// so a client never mistakes a lossy rendering for the real bytes.
export function decodeUtf8(bytes: Uint8Array): DecodedText {
  try {
    return { text: strictDecoder.decode(bytes), lossy: false };
  } catch {
    return { text: lossyDecoder.decode(bytes), lossy: true };
  }
}

// Same heuristic git uses for "Binary files differ": a NUL byte in the first 8000 bytes.
const BINARY_PROBE_BYTES = 8000;

export function looksBinary(bytes: Uint8Array): boolean {
  const end = Math.min(bytes.length, BINARY_PROBE_BYTES);
  for (let i = 0; i < end; i++) {
    if (bytes[i] === 0) return true;
  }
  return false;
}

/** Collects the lossy flag across many decoded fields of one result. */
export class LossyTracker {
  lossy = false;

  decode(bytes: Uint8Array): string {
    const decoded = decodeUtf8(bytes);
    if (decoded.lossy) this.lossy = true;
    return decoded.text;
  }
}

/** Splits a buffer on a separator byte; a trailing separator does not produce an empty last part. */
export function splitBytes(bytes: Buffer, separator: number): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (;;) {
    const index = bytes.indexOf(separator, start);
    if (index === -1) break;
    parts.push(bytes.subarray(start, index));
    start = index + 1;
  }
  if (start < bytes.length) parts.push(bytes.subarray(start));
  return parts;
}

/** Drops a UTF-8 sequence cut in half by a byte cap, so truncation alone never looks lossy. */
export function trimIncompleteUtf8(bytes: Buffer): Buffer {
  let start = bytes.length - 1;
  // Walk back over at most 3 continuation bytes to the lead byte of the last sequence.
  while (start >= 0 && bytes.length - start <= 4 && ((bytes[start] ?? 0) & 0xc0) === 0x80) start--;
  if (start < 0) return bytes;
  const lead = bytes[start] ?? 0;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return bytes.length - start < need ? bytes.subarray(0, start) : bytes;
}
