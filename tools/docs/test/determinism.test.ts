import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { generateDocument } from "../src/generate-document.ts";
import { sampleInput } from "./sample-document.ts";

const run = promisify(execFile);
const script = fileURLToPath(new URL("./print-digests.ts", import.meta.url));

async function digestsInProcess(tz: string): Promise<Record<string, string>> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", script], {
    env: { ...process.env, TZ: tz },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim()) as Record<string, string>;
}

describe("document determinism", () => {
  it("gives the same SHA-256 in two separate processes, under UTC and Asia/Tokyo, and in this one", async () => {
    const [utc, tokyo] = await Promise.all([
      digestsInProcess("UTC"),
      digestsInProcess("Asia/Tokyo"),
    ]);
    expect(Object.keys(utc).sort()).toEqual(["docx", "html", "pdf"]);
    expect(tokyo).toEqual(utc);
    for (const format of ["pdf", "docx", "html"] as const) {
      const local = await generateDocument(sampleInput(format));
      expect(local.ok && local.output.sha256).toBe(utc[format]);
    }
  });

  it("gives the same bytes for repeated calls in one process and different bytes for different input", async () => {
    for (const format of ["pdf", "docx", "html"] as const) {
      const first = await generateDocument(sampleInput(format));
      const second = await generateDocument(sampleInput(format));
      const other = await generateDocument({ ...sampleInput(format), title: "Another title" });
      if (!first.ok || !second.ok || !other.ok) throw new Error("generation failed");
      expect(Buffer.from(second.bytes).equals(Buffer.from(first.bytes))).toBe(true);
      expect(other.output.sha256).not.toBe(first.output.sha256);
      expect(first.output.sizeBytes).toBe(first.bytes.byteLength);
    }
  });
});
