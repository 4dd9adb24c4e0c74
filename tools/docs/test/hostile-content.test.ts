import { extractText } from "unpdf";
import { describe, expect, it } from "vitest";
import { generateDocument, generateDocumentTool } from "../src/generate-document.ts";
import { deepestLineNesting, mostDelimiterRunsInBlock } from "../src/markdown-model.ts";
import { toolErrorOf as errorOf } from "../../kit/src/testing.ts";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789";
function unbrokenWord(length: number): string {
  return Array.from({ length }, (_, index) => ALPHABET[index % ALPHABET.length]).join("");
}

async function pdfText(content: string, title = "Long words") {
  const generated = await generateDocument({ format: "pdf", title, content });
  if (!generated.ok) throw new Error(generated.error);
  const { text } = await extractText(new Uint8Array(generated.bytes), { mergePages: true });
  return { output: generated.output, bytes: generated.bytes, text };
}

describe("long unbroken words in PDFs", () => {
  it("lays out a 199 000-character word in linear time, on full lines", async () => {
    const word = unbrokenWord(199_000);
    const { output, text } = await pdfText(word);
    // About 75 characters a line and 52 lines a page: ~50 pages; quadratic layout took minutes.
    expect(output.pageCount).toBeGreaterThan(30);
    expect(output.pageCount).toBeLessThan(80);
    const lines = text.split("\n").slice(1);
    expect(lines[0]).toBe(word.slice(0, lines[0]!.length));
    expect(lines[0]!.length).toBeGreaterThan(60);
    expect(lines.join("")).toBe(word);
  });

  it("breaks long words in code blocks, inline code, links, headings, table cells and the title", async () => {
    const word = unbrokenWord(3_000);
    const content = [
      `# ${word}`,
      `text \`${word}\` and [${word}](https://example.com/x)`,
      "```",
      word,
      "```",
      "| a | b |",
      "|---|---|",
      `| ${word} | x |`,
    ].join("\n");
    const { text } = await pdfText(content, unbrokenWord(300));
    const joined = text.replace(/\s+/g, "");
    expect(joined.startsWith(unbrokenWord(300))).toBe(true);
    // Five copies of the word survive the cuts, in order.
    expect(joined.split(word).length - 1).toBeGreaterThanOrEqual(5);
  });
});

describe("markdown nesting is checked before marked recurses", () => {
  it.each([
    [">".repeat(5000) + " a", "content nests lists or quotes deeper than 20 levels"],
    ["> ".repeat(21) + "a", "content nests lists or quotes deeper than 20 levels"],
    ["- ".repeat(5000) + "a", "content nests lists or quotes deeper than 20 levels"],
    ["1. ".repeat(5000) + "a", "content nests lists or quotes deeper than 20 levels"],
    [
      "text\n" + "> - 1) ".repeat(2000) + "a",
      "content nests lists or quotes deeper than 20 levels",
    ],
    [
      "*".repeat(5_000) + "a" + "*".repeat(5_000),
      "content nests emphasis, links or other inline markup too deeply to parse",
    ],
  ])("refuses %#", async (content, message) => {
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      message,
    );
  });

  it.each([
    ["a thematic break made of many dashes", "- ".repeat(40) + "\n\ntext", 0],
    ["markers inside fenced code", "```\n" + "> ".repeat(40) + "\n```", 0],
    ["twenty levels", "> ".repeat(20) + "a", 20],
    ["mixed markers", "> - 1. 2) + * text", 6],
    ["no space after the marker", "-1 *bold* 1.5", 0],
  ])("counts %s", (_name, content, depth) => {
    expect(deepestLineNesting(content)).toBe(depth);
  });

  it("still renders twenty levels of quotes", async () => {
    const generated = await generateDocument({
      format: "html",
      title: "t",
      content: "> ".repeat(20) + "deep",
    });
    expect(generated.ok).toBe(true);
  });
});

describe("emphasis markers are bounded before marked's quadratic matching", () => {
  it("refuses a paragraph with thousands of strikethrough openers", async () => {
    const content = "~~a ".repeat(30_000) + "b" + "~~".repeat(30_000);
    expect(await errorOf(generateDocumentTool, { format: "html", title: "t", content })).toBe(
      "content has more than 1000 emphasis or strikethrough markers (*, _, ~) in one paragraph",
    );
  });

  it("counts per paragraph and ignores fenced code", async () => {
    const paragraph = "*a* ".repeat(400);
    const content = [paragraph, paragraph, "```", "*".repeat(10) + " x ".repeat(3000), "```"].join(
      "\n\n",
    );
    expect(mostDelimiterRunsInBlock(content)).toBe(800);
    const result = await generateDocument({ format: "html", title: "t", content });
    expect(result.ok).toBe(true);
  });
});

describe("cancellation", () => {
  it("does not render for a call that is already cancelled", async () => {
    const controller = new AbortController();
    controller.abort();
    const generated = await generateDocument(
      { format: "pdf", title: "t", content: "x" },
      controller.signal,
    );
    expect(generated).toEqual({ ok: false, error: "document generation was cancelled" });
  });

  it("stops a PDF between blocks once the client has gone", async () => {
    const controller = new AbortController();
    // Runs at the renderer's first yield to the event loop, i.e. in the middle of the layout.
    setImmediate(() => controller.abort());
    const generated = await generateDocument(
      { format: "pdf", title: "t", content: "paragraph text\n\n".repeat(4_000) },
      controller.signal,
    );
    expect(generated).toEqual({ ok: false, error: "document generation was cancelled" });
  });
});
