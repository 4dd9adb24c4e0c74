import type { GenerateDocumentInput } from "../src/document-request.ts";

/** A document touching every supported Markdown feature and several scripts. */
export const SAMPLE_CONTENT = `# Quarterly report

Plain text with **bold**, _italic_, ***both***, ~~struck~~ and \`inline code\`.
A [web link](https://example.com/report?q=1&r=2) and a [mail link](mailto:team@example.com).

## Unicode

Ünïcödé: Ελληνικά, Русский текст, עברית, ½ ≤ ∑ → €.

### Lists

- first bullet
- second bullet
  - nested bullet
- [x] done task

3. third
4. fourth

| Item | Qty | Price |
|:-----|:---:|------:|
| Apple | 3 | 1.20 |
| Pear & Plum | 10 | 0.75 |

\`\`\`ts
const answer: number = 42; // <not a tag>
\`\`\`

> A quoted paragraph.

---

Last line.
`;

export function sampleInput(format: GenerateDocumentInput["format"]): GenerateDocumentInput {
  return {
    format,
    title: "Quarterly report — Q3 Ünïcödé",
    content: SAMPLE_CONTENT,
    metadata: {
      author: "Ada Lovelace",
      subject: "Finance",
      keywords: ["report", "q3"],
      language: "en",
    },
  };
}
