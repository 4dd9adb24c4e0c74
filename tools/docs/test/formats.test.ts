import { strFromU8, unzipSync } from "fflate";
import { extractText } from "unpdf";
import { describe, expect, it } from "vitest";
import { fileNameFor } from "../src/document-request.ts";
import { generateDocument, generateDocumentTool } from "../src/generate-document.ts";
import { toolErrorOf as errorOf } from "../../kit/src/testing.ts";
import { sampleInput } from "./sample-document.ts";

async function bytesOf(input: Parameters<typeof generateDocument>[0]): Promise<Uint8Array> {
  const generated = await generateDocument(input);
  if (!generated.ok) throw new Error(generated.error);
  return generated.bytes;
}

describe("PDF", () => {
  it("contains the text, non-ASCII included, with the bundled font embedded", async () => {
    const generated = await generateDocument(sampleInput("pdf"));
    if (!generated.ok) throw new Error(generated.error);
    expect(generated.output).toMatchObject({ mimeType: "application/pdf", pageCount: 1 });
    const { text } = await extractText(new Uint8Array(generated.bytes), { mergePages: true });
    for (const expected of [
      "Quarterly report — Q3 Ünïcödé",
      "Ünïcödé: Ελληνικά, Русский текст",
      "first bullet",
      "nested bullet",
      "[x] done task",
      "Pear & Plum",
      "const answer: number = 42; // <not a tag>",
      "A quoted paragraph.",
      "web link",
    ]) {
      expect(text).toContain(expected);
    }
    const raw = Buffer.from(generated.bytes).toString("latin1");
    expect(raw).toContain("DejaVuSans");
    expect(raw).toContain("/FontFile2");
    expect(raw).toContain("(D:20000101000000Z)");
    expect(raw).toContain("https://example.com/report?q=1&r=2");
  });

  it("refuses content that would exceed the page limit", async () => {
    const generated = await generateDocument({
      format: "pdf",
      title: "Long",
      content: "line\n\n".repeat(30_000),
    });
    expect(generated).toEqual({
      ok: false,
      error: "the PDF would exceed 200 pages; shorten the content or split it",
    });
  });
});

const DOS_DATE_2000_01_01 = ((2000 - 1980) << 9) | (1 << 5) | 1;

describe("DOCX", () => {
  it("is a zip with fixed entry order, fixed mtimes and the content in document.xml", async () => {
    const bytes = await bytesOf(sampleInput("docx"));
    const entries = unzipSync(bytes);
    expect(Object.keys(entries)).toEqual([
      "[Content_Types].xml",
      "_rels/.rels",
      "docProps/core.xml",
      "docProps/app.xml",
      "word/document.xml",
      "word/_rels/document.xml.rels",
      "word/styles.xml",
      "word/numbering.xml",
    ]);
    const documentXml = strFromU8(entries["word/document.xml"]!);
    expect(documentXml).toContain("Quarterly report — Q3 Ünïcödé");
    expect(documentXml).toContain("Ελληνικά, Русский текст");
    expect(documentXml).toContain('<w:pStyle w:val="Heading2"/>');
    expect(documentXml).toContain("Pear &amp; Plum");
    expect(documentXml).toContain("// &lt;not a tag&gt;");
    expect(documentXml).toContain('<w:hyperlink r:id="rIdLink1">');
    const rels = strFromU8(entries["word/_rels/document.xml.rels"]!);
    expect(rels).toContain('Target="https://example.com/report?q=1&amp;r=2" TargetMode="External"');
    const core = strFromU8(entries["docProps/core.xml"]!);
    expect(core).toContain(
      '<dcterms:created xsi:type="dcterms:W3CDTF">2000-01-01T00:00:00Z</dcterms:created>',
    );
    expect(core).toContain("<dc:creator>Ada Lovelace</dc:creator>");
    const numbering = strFromU8(entries["word/numbering.xml"]!);
    expect(numbering).toContain('<w:startOverride w:val="3"/>');

    // Every local file header carries the fixed DOS date and midnight.
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let headers = 0;
    for (let offset = 0; offset + 30 <= bytes.byteLength; offset += 1) {
      if (view.getUint32(offset, true) !== 0x04034b50) continue;
      headers += 1;
      expect(view.getUint16(offset + 10, true)).toBe(0);
      expect(view.getUint16(offset + 12, true)).toBe(DOS_DATE_2000_01_01);
    }
    expect(headers).toBe(8);
  });
});

const ALLOWED_TAGS = new Set([
  "html",
  "head",
  "meta",
  "title",
  "style",
  "body",
  "article",
  "h1",
  "h2",
  "h3",
  "h4",
  "h5",
  "h6",
  "p",
  "pre",
  "code",
  "ul",
  "ol",
  "li",
  "table",
  "thead",
  "tbody",
  "tr",
  "th",
  "td",
  "blockquote",
  "hr",
  "br",
  "strong",
  "em",
  "del",
  "a",
]);
const ALLOWED_ATTRIBUTES = new Set([
  "lang",
  "charset",
  "http-equiv",
  "content",
  "name",
  "class",
  "href",
  "rel",
  "style",
  "start",
]);

function assertOnlySafeMarkup(html: string): void {
  const body = html.replace(/<style>[\s\S]*?<\/style>/, "");
  for (const match of body.matchAll(/<\/?([a-zA-Z0-9!-]+)([^>]*)>/g)) {
    const tag = match[1]!.toLowerCase();
    if (tag === "!doctype") continue;
    expect(ALLOWED_TAGS.has(tag), `tag <${tag}>`).toBe(true);
    for (const attribute of match[2]!.matchAll(/([^\s=]+)="[^"]*"/g)) {
      expect(ALLOWED_ATTRIBUTES.has(attribute[1]!.toLowerCase()), `attribute ${attribute[1]}`).toBe(
        true,
      );
    }
    const leftover = match[2]!.replace(/([^\s=]+)="[^"]*"/g, "").trim();
    expect(leftover, `unquoted attribute text in <${tag}>`).toBe("");
  }
  for (const href of body.matchAll(/href="([^"]*)"/g)) {
    expect(href[1]).toMatch(/^(https?:|mailto:|#)/);
  }
}

describe("HTML", () => {
  it("renders every feature with escaped text", async () => {
    const html = new TextDecoder().decode(await bytesOf(sampleInput("html")));
    expect(html).toContain("<title>Quarterly report — Q3 Ünïcödé</title>");
    expect(html).toContain('<meta name="author" content="Ada Lovelace">');
    expect(html).toContain("<h2>Quarterly report</h2>");
    expect(html).toContain("<strong>bold</strong>");
    expect(html).toContain("<em>italic</em>");
    expect(html).toContain("<del>struck</del>");
    expect(html).toContain(
      '<a href="https://example.com/report?q=1&amp;r=2" rel="noopener noreferrer nofollow">',
    );
    expect(html).toContain('<ol start="3">');
    expect(html).toContain('<th style="text-align:right">Price</th>');
    expect(html).toContain(
      '<pre><code class="language-ts">const answer: number = 42; // &lt;not a tag&gt;</code></pre>',
    );
    expect(html).toContain("Pear &amp; Plum");
    assertOnlySafeMarkup(html);
  });

  it.each([
    ["raw script", "<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"],
    ["inline script", "text <script>alert(1)</script> more", "&lt;script&gt;"],
    [
      "event handler",
      '<img src="x" onerror="alert(1)">',
      "&lt;img src=&quot;x&quot; onerror=&quot;alert(1)&quot;&gt;",
    ],
    ["javascript link", "[click](javascript:alert(1))", "click"],
    ["mixed-case scheme", "[click](JaVaScRiPt:alert(1))", "click"],
    ["data link", "[click](data:text/html;base64,PHNjcmlwdD4=)", "click"],
    ["vbscript link", "[click](vbscript:msgbox)", "click"],
    ["quote breaking href", '[x](https://a.example/"onmouseover="alert(1))', "x"],
    ["autolink script", "<javascript:alert(1)>", "javascript:alert(1)"],
    [
      "code fence escape",
      "```\n</code></pre><script>alert(1)</script>\n```",
      "&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;",
    ],
    [
      "fence language injection",
      '```js" onmouseover="x\ncode\n```',
      "<pre><code>code</code></pre>",
    ],
    [
      "image",
      '![alt"><script>](https://example.com/x.png)',
      "[image: alt&quot;&gt;&lt;script&gt;]",
    ],
    ["iframe block", "<iframe src=https://evil.example></iframe>", "&lt;iframe"],
    ["style block", "<style>body{display:none}</style>", "&lt;style&gt;"],
  ])("neutralises %s", async (_name, content, expected) => {
    const html = new TextDecoder().decode(await bytesOf({ format: "html", title: "t", content }));
    expect(html).toContain(expected);
    expect(html.toLowerCase()).not.toContain("<script");
    expect(html).not.toMatch(/href="(?!https?:|mailto:|#)/i);
    assertOnlySafeMarkup(html);
  });

  it("escapes the title and metadata", async () => {
    const html = new TextDecoder().decode(
      await bytesOf({
        format: "html",
        title: "</title><script>alert(1)</script>",
        content: "x",
        metadata: { author: '"><script>alert(1)</script>', keywords: ["<b>"] },
      }),
    );
    expect(html.toLowerCase()).not.toContain("<script");
    expect(html).toContain("<title>&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>");
    assertOnlySafeMarkup(html);
  });
});

describe("generate_document input checks", () => {
  it.each([
    [{ format: "odt", title: "t", content: "x" }, /format/],
    [{ format: "pdf", title: "", content: "x" }, /title must not be empty/],
    [
      { format: "pdf", title: "t", content: "x".repeat(200_001) },
      /content must be at most 200000 characters/,
    ],
    [{ format: "pdf", title: "t".repeat(301), content: "x" }, /title/],
    [{ format: "pdf", title: "a\u0000b", content: "x" }, /control characters/],
    [{ format: "pdf", title: "t", content: "x", metadata: { language: "not a tag" } }, /BCP 47/],
    [
      { format: "pdf", title: "t", content: "x", metadata: { colour: "red" } },
      /colour|unrecognized/i,
    ],
    [{ format: "pdf", title: "t" }, /content/],
  ])("rejects %j", async (args, message) => {
    expect(await errorOf(generateDocumentTool, args)).toMatch(message);
  });

  it("refuses content nested too deeply", async () => {
    expect(
      await errorOf(generateDocumentTool, {
        format: "html",
        title: "t",
        content: `${"> ".repeat(30)}deep`,
      }),
    ).toBe("content nests lists or quotes deeper than 20 levels");
  });

  it("derives safe file names", () => {
    expect(fileNameFor("Quarterly report — Q3 Ünïcödé", "pdf")).toBe(
      "quarterly-report-q3-unicode.pdf",
    );
    expect(fileNameFor("../../etc/passwd", "html")).toBe("etc-passwd.html");
    expect(fileNameFor("Ελληνικά", "docx")).toBe("document.docx");
  });
});
