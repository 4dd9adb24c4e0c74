import type { Block, Run } from "./markdown-model.ts";
import type { DocumentMetadata } from "./document-request.ts";

/** Escapes text for both element content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

const STYLE = `body{font-family:"DejaVu Sans",Arial,sans-serif;line-height:1.5;max-width:48rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}
pre{background:#f4f4f4;padding:.75rem;overflow-x:auto}code{font-family:"DejaVu Sans Mono",monospace}
table{border-collapse:collapse}th,td{border:1px solid #bbb;padding:.25rem .5rem}blockquote{border-left:3px solid #bbb;margin-left:0;padding-left:1rem;color:#444}`;

/**
 * A standalone HTML document. Every piece of content is escaped; the only markup is what this
 * renderer writes, and a CSP meta tag forbids scripts and remote loads as a second line of defence.
 */
export function renderHtml(title: string, blocks: Block[], metadata: DocumentMetadata): Uint8Array {
  const head = [
    "<!DOCTYPE html>",
    `<html lang="${escapeHtml(metadata.language ?? "en")}">`,
    "<head>",
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
  ];
  if (metadata.author !== undefined)
    head.push(`<meta name="author" content="${escapeHtml(metadata.author)}">`);
  if (metadata.subject !== undefined) {
    head.push(`<meta name="description" content="${escapeHtml(metadata.subject)}">`);
  }
  if (metadata.keywords !== undefined && metadata.keywords.length > 0) {
    head.push(`<meta name="keywords" content="${escapeHtml(metadata.keywords.join(", "))}">`);
  }
  head.push(`<style>${STYLE}</style>`, "</head>", "<body>", "<article>");
  const body = [`<h1 class="document-title">${escapeHtml(title)}</h1>`, ...blocks.map(renderBlock)];
  const html = [...head, ...body, "</article>", "</body>", "</html>", ""].join("\n");
  return new TextEncoder().encode(html);
}

function renderBlock(block: Block): string {
  switch (block.type) {
    case "heading": {
      // The document title is the only h1; content headings start one level below.
      const level = Math.min(block.level + 1, 6);
      return `<h${level}>${renderRuns(block.runs)}</h${level}>`;
    }
    case "paragraph":
      return `<p>${renderRuns(block.runs)}</p>`;
    case "code": {
      const language =
        block.language === undefined ? "" : ` class="language-${escapeHtml(block.language)}"`;
      return `<pre><code${language}>${escapeHtml(block.text)}</code></pre>`;
    }
    case "list": {
      const items = block.items
        .map((item) => `<li>${item.map(renderBlock).join("\n")}</li>`)
        .join("\n");
      if (!block.ordered) return `<ul>\n${items}\n</ul>`;
      const start = block.start === 1 ? "" : ` start="${block.start}"`;
      return `<ol${start}>\n${items}\n</ol>`;
    }
    case "table": {
      const cell = (tag: "th" | "td", runs: Run[], index: number): string => {
        const align = block.align[index];
        const style = align === null || align === undefined ? "" : ` style="text-align:${align}"`;
        return `<${tag}${style}>${renderRuns(runs)}</${tag}>`;
      };
      const header = `<tr>${block.header.map((runs, i) => cell("th", runs, i)).join("")}</tr>`;
      const rows = block.rows.map(
        (row) => `<tr>${row.map((runs, i) => cell("td", runs, i)).join("")}</tr>`,
      );
      return `<table>\n<thead>${header}</thead>\n<tbody>\n${rows.join("\n")}\n</tbody>\n</table>`;
    }
    case "quote":
      return `<blockquote>\n${block.blocks.map(renderBlock).join("\n")}\n</blockquote>`;
    case "rule":
      return "<hr>";
  }
}

function renderRuns(runs: Run[]): string {
  return runs
    .map((run) => {
      if (run.kind === "break") return "<br>";
      let html = escapeHtml(run.text);
      if (run.code) html = `<code>${html}</code>`;
      if (run.strike) html = `<del>${html}</del>`;
      if (run.italic) html = `<em>${html}</em>`;
      if (run.bold) html = `<strong>${html}</strong>`;
      if (run.href !== undefined)
        html = `<a href="${escapeHtml(run.href)}" rel="noopener noreferrer nofollow">${html}</a>`;
      return html;
    })
    .join("");
}
