// A deliberately tiny markdown renderer for model output, safe by construction: the text is
// HTML-escaped before any markup is added, and the only markup added is a fixed set of tags
// (p, br, pre, code, strong, em, ul, ol, li, h3-h6, a). Links must be http(s) URLs.
// Model output such as `<img src=x onerror=...>` therefore shows up as text, never as markup.
// It re-renders the whole message on every update, so an unclosed ``` while streaming simply
// renders as a code block until its end arrives.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

// Placeholders for finished HTML fragments while the rest is still being transformed.
// NUL never survives into them from the input: it is stripped first.
const HOLE = "\u0000";

function inline(text) {
  const holes = [];
  const hold = (html) => `${HOLE}${holes.push(html) - 1}${HOLE}`;
  let html = text.replace(/`([^`\n]+)`/g, (_, code) => hold(`<code>${escapeHtml(code)}</code>`));
  html = escapeHtml(html);
  html = html.replace(
    /\[([^\]\u0000]+)\]\((https?:\/\/[^\s()\u0000]+)\)/g,
    (_, label, url) =>
      hold(`<a href="${url}" target="_blank" rel="noopener noreferrer nofollow">${emphasis(label)}</a>`),
  );
  html = emphasis(html);
  for (let depth = 0; depth < 3 && html.includes(HOLE); depth++) {
    html = html.replace(/\u0000(\d+)\u0000/g, (_, index) => holes[Number(index)]);
  }
  return html;
}

function emphasis(html) {
  return html
    .replace(/\*\*(?=\S)(.+?)(?<=\S)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^\w])__(?=\S)(.+?)(?<=\S)__(?!\w)/g, "$1<strong>$2</strong>")
    .replace(/(^|[^*])\*(?=[^\s*])([^*]*?[^\s*])\*(?!\*)/g, "$1<em>$2</em>")
    .replace(/(^|[^\w])_(?=[^\s_])([^_]*?[^\s_])_(?!\w)/g, "$1<em>$2</em>");
}

const FENCE = /^\s*```\s*([\w+.-]*)\s*$/;
const BULLET = /^\s*[-*+]\s+(.*)$/;
const NUMBERED = /^\s*\d{1,9}[.)]\s+(.*)$/;
const HEADING = /^(#{1,6})\s+(.*?)\s*#*\s*$/;

function isBlockStart(line) {
  return FENCE.test(line) || BULLET.test(line) || NUMBERED.test(line) || HEADING.test(line);
}

/** Markdown text → an HTML string that is safe to assign to innerHTML. */
export function renderMarkdown(source) {
  const lines = source.replace(/\u0000/g, "").replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = FENCE.exec(line);
    if (fence) {
      const body = [];
      for (i += 1; i < lines.length && !/^\s*```\s*$/.test(lines[i]); i += 1) body.push(lines[i]);
      i += 1; // past the closing fence (or the end, while it is still streaming)
      const lang = fence[1] ? ` data-lang="${escapeHtml(fence[1])}"` : "";
      out.push(`<pre><code${lang}>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const level = Math.min(heading[1].length + 2, 6);
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      i += 1;
      continue;
    }
    const list = BULLET.test(line) ? BULLET : NUMBERED.test(line) ? NUMBERED : null;
    if (list) {
      const items = [];
      for (; i < lines.length && list.test(lines[i]); i += 1) {
        items.push(`<li>${inline(list.exec(lines[i])[1])}</li>`);
      }
      const tag = list === BULLET ? "ul" : "ol";
      out.push(`<${tag}>${items.join("")}</${tag}>`);
      continue;
    }
    if (line.trim() === "") {
      i += 1;
      continue;
    }
    const paragraph = [];
    for (; i < lines.length && lines[i].trim() !== "" && !isBlockStart(lines[i]); i += 1) {
      paragraph.push(inline(lines[i]));
    }
    out.push(`<p>${paragraph.join("<br>")}</p>`);
  }
  return out.join("");
}
