import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function hmacSha256(key: string | Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** Compares two secrets without leaking where they differ: both sides are hashed to equal length first. */
export function constantTimeEqual(a: string | Uint8Array, b: string | Uint8Array): boolean {
  const left = createHash("sha256").update(a).digest();
  const right = createHash("sha256").update(b).digest();
  return timingSafeEqual(left, right);
}

/**
 * Compares a MAC or digest with the one computed here, in constant time. Its length is public
 * (fixed by the algorithm and encoding), so values of unequal length are simply unequal and
 * nothing needs hashing first; compare secrets with constantTimeEqual, which hides their length.
 */
export function macEqual(received: string, computed: string): boolean {
  const left = Buffer.from(received);
  const right = Buffer.from(computed);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** JSON with object keys sorted at every depth, so equal values always give equal bytes. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value)) ?? "null";
}

export function digestJson(value: unknown): string {
  return sha256Hex(canonicalJson(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === "object") {
    const input = value as Record<string, unknown>;
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(input).sort()) {
      if (input[key] !== undefined) sorted[key] = sortKeys(input[key]);
    }
    return sorted;
  }
  return value;
}
