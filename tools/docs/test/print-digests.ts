// Run as a separate process by the determinism test: prints the SHA-256 of each format.
import { generateDocument } from "../src/generate-document.ts";
import { sampleInput } from "./sample-document.ts";

const digests: Record<string, string> = {};
for (const format of ["pdf", "docx", "html"] as const) {
  const generated = await generateDocument(sampleInput(format));
  if (!generated.ok) throw new Error(generated.error);
  digests[format] = generated.output.sha256;
}
process.stdout.write(`${JSON.stringify(digests)}\n`);
