// The LLM panel of the trace view: a model call, agent run or tool call drawn as a chat.
// Plain JavaScript, no dependencies. Draws the `conversation` of a span's details (computed on the
// server by query/llm_messages.py). Every string in it came from a client and may hold HTML or
// script: it only ever reaches the page as a text node or through a small Markdown subset built
// from DOM nodes (paragraphs, headings, lists, quotes, code, bold, italic, http(s) links). No
// innerHTML anywhere, and only http: and https: URLs become links.
(function () {
  "use strict";
  const MARKDOWN_CHARS = 60000; // longer texts are shown as plain text: the inline parser stays cheap
  const PREVIEW_CHARS = 4000; // texts past this are cut, with a "show all" button
  const ROLE_NAMES = { system: "System", user: "User", assistant: "Assistant", tool: "Tool" };

  const h = window.Spyglass.h; // web/static/dom.js

  /** The URL as a link target when it is an absolute http(s) URL, else null. */
  function safeHref(text) {
    if (typeof text !== "string" || !/^https?:\/\//i.test(text.trim())) return null;
    try {
      const url = new URL(text.trim());
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch (_) {
      return null;
    }
  }

  function link(href, ...children) {
    return h("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", class: "llm-link" }, ...children);
  }

  // -- Markdown, a safe subset ------------------------------------------------------------------

  // One pass over the text finds the earliest of these; everything between matches is plain text.
  // Spans are bounded (1000 characters) so that text full of unmatched `*` or `_` costs linear time.
  const INLINE = /(`+)([^`][\s\S]{0,1000}?)\1(?!`)|\*\*(?=\S)([\s\S]{0,1000}?\S)\*\*|__(?=\S)([\s\S]{0,1000}?\S)__|\*(?=[^\s*])([\s\S]{0,1000}?[^\s*])\*|(^|[^\w])_(?=[^\s_])([\s\S]{0,1000}?[^\s_])_(?!\w)|\[([^\]\n]{1,500})\]\(([^()\s]{0,2000})\)|(https?:\/\/[^\s<>()\[\]"']+[^\s<>()\[\]"'.,;:!?])/;

  /** Inline Markdown of `text` appended to `parent` as DOM nodes; `depth` stops runaway nesting. */
  function inline(parent, text, depth) {
    let rest = text;
    while (rest) {
      const match = depth < 6 ? INLINE.exec(rest) : null;
      if (!match) { parent.append(document.createTextNode(rest)); return; }
      let start = match.index;
      if (match[6] !== undefined) { // _italic_: the character before it is kept as text
        start += match[6].length;
      }
      if (start > 0) parent.append(document.createTextNode(rest.slice(0, start)));
      if (match[1] !== undefined) {
        parent.append(h("code", { class: "md-code" }, match[2].replace(/^ (.*) $/s, "$1")));
      } else if (match[3] !== undefined || match[4] !== undefined) {
        const strong = h("strong");
        inline(strong, match[3] !== undefined ? match[3] : match[4], depth + 1);
        parent.append(strong);
      } else if (match[5] !== undefined || match[7] !== undefined) {
        const em = h("em");
        inline(em, match[5] !== undefined ? match[5] : match[7], depth + 1);
        parent.append(em);
      } else if (match[8] !== undefined) {
        const href = safeHref(match[9]);
        if (href) {
          const anchor = link(href);
          inline(anchor, match[8], depth + 1);
          parent.append(anchor);
        } else {
          parent.append(document.createTextNode(match[0])); // not http(s): shown as written
        }
      } else if (match[10] !== undefined) {
        const href = safeHref(match[10]);
        parent.append(href ? link(href, match[10]) : document.createTextNode(match[10]));
      }
      rest = rest.slice(match.index + match[0].length);
    }
  }

  const FENCE = /^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)\s*$/;
  const HEADING = /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const ITEM = /^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const QUOTE = /^\s{0,3}>\s?(.*)$/;
  const RULE = /^\s{0,3}([-*_])(\s*\1){2,}\s*$/;

  /** Markdown text as a <div class="md"> of DOM nodes (block level: see the regexes above). */
  function markdown(text) {
    const root = h("div", { class: "md" });
    if (text.length > MARKDOWN_CHARS) {
      root.append(h("div", { class: "md-plain" }, text));
      return root;
    }
    const lines = text.replace(/\r\n?/g, "\n").split("\n");
    let paragraph = null;
    let list = null;
    let item = null;
    const endBlocks = () => { paragraph = null; list = null; item = null; };
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      const fence = FENCE.exec(line);
      if (fence) {
        const body = [];
        const closing = new RegExp("^\\s{0,3}" + fence[1][0] + "{" + fence[1].length + ",}\\s*$");
        for (i++; i < lines.length && !closing.test(lines[i]); i++) body.push(lines[i]);
        const code = h("code", {}, body.join("\n"));
        root.append(h("pre", { class: "md-pre", "data-lang": fence[2] || null }, code));
        endBlocks();
        continue;
      }
      if (!line.trim()) { endBlocks(); continue; }
      const heading = HEADING.exec(line);
      if (heading) {
        const element = h("div", { class: "md-h md-h" + heading[1].length, role: "heading", "aria-level": heading[1].length });
        inline(element, heading[2], 0);
        root.append(element);
        endBlocks();
        continue;
      }
      if (RULE.test(line)) { root.append(h("hr")); endBlocks(); continue; }
      const quote = QUOTE.exec(line);
      if (quote) {
        const block = h("blockquote", { class: "md-quote" });
        const quoted = [quote[1]];
        while (i + 1 < lines.length && QUOTE.test(lines[i + 1])) quoted.push(QUOTE.exec(lines[++i])[1]);
        block.append(markdown(quoted.join("\n")));
        root.append(block);
        endBlocks();
        continue;
      }
      const listItem = ITEM.exec(line);
      if (listItem) {
        const ordered = /\d/.test(listItem[2]);
        if (!list || list.ordered !== ordered) {
          const element = h(ordered ? "ol" : "ul", { class: "md-list" });
          if (ordered && parseInt(listItem[2], 10) !== 1) element.setAttribute("start", String(parseInt(listItem[2], 10)));
          root.append(element);
          list = { element, ordered };
        }
        item = h("li");
        inline(item, listItem[3], 0);
        list.element.append(item);
        paragraph = null;
        continue;
      }
      if (item && /^\s+\S/.test(line)) { // an indented line continues the list item
        item.append(h("br"));
        inline(item, line.trim(), 0);
        continue;
      }
      if (!paragraph) {
        paragraph = h("p");
        root.append(paragraph);
        list = null;
        item = null;
      } else {
        paragraph.append(h("br")); // a single newline is kept: model output often relies on it
      }
      inline(paragraph, line, 0);
    }
    return root;
  }

  /** Long text cut to PREVIEW_CHARS with a button that draws the whole of it. */
  function expandable(text, draw) {
    if (text.length <= PREVIEW_CHARS) return draw(text);
    const holder = h("div", { class: "llm-expandable" });
    const button = h("button", { type: "button", class: "llm-more" }, `show all ${text.length.toLocaleString()} characters`);
    holder.append(draw(text.slice(0, PREVIEW_CHARS) + "…"), button);
    button.addEventListener("click", () => holder.replaceChildren(draw(text)));
    return holder;
  }

  // -- values -----------------------------------------------------------------------------------

  function notRecorded() {
    return h("span", { class: "llm-muted" }, "(content not recorded)");
  }

  /** A tool argument or result: JSON pretty-printed, text as written (never as Markdown). */
  function valueBlock(value, className) {
    if (value === undefined) return notRecorded();
    if (typeof value === "string") return expandable(value, (text) => h("div", { class: "llm-plain " + className }, text));
    let text;
    try { text = JSON.stringify(value, null, 2); } catch (_) { text = String(value); }
    return expandable(text, (shown) => h("pre", { class: "llm-json " + className }, shown));
  }

  function textBlock(content) {
    if (content === null || content === undefined) return notRecorded();
    return expandable(String(content), markdown);
  }

  function bytes(count) {
    if (typeof count !== "number") return "";
    if (count < 1024) return count + " bytes";
    if (count < 1024 * 1024) return (count / 1024).toFixed(1) + " KiB";
    return (count / 1024 / 1024).toFixed(1) + " MiB";
  }

  // -- parts and messages -----------------------------------------------------------------------

  function partElement(part) {
    switch (part.type) {
      case "text":
        return h("div", { class: "llm-part llm-text" }, textBlock(part.content));
      case "thinking": {
        const details = h("details", { class: "llm-part llm-thinking" }, h("summary", {}, "Thinking"));
        details.append(textBlock(part.content));
        return details;
      }
      case "tool_call": {
        const box = h("div", { class: "llm-part llm-tool-call" },
          h("div", { class: "llm-part-head" }, h("span", { class: "llm-icon", "aria-hidden": "true" }, "ƒ"),
            h("span", { class: "llm-tool-name" }, part.name || "(unnamed tool)"),
            part.id ? h("span", { class: "llm-call-id", title: "tool call id" }, part.id) : null));
        box.append("arguments" in part ? valueBlock(part.arguments, "llm-args") : notRecorded());
        return box;
      }
      case "tool_result": {
        const box = h("div", { class: "llm-part llm-tool-result" },
          h("div", { class: "llm-part-head" }, h("span", { class: "llm-icon", "aria-hidden": "true" }, "↩"),
            h("span", { class: "llm-tool-name" }, part.name || "(tool)"), " result",
            part.id ? h("span", { class: "llm-call-id", title: "tool call id" }, part.id) : null));
        box.append("result" in part ? valueBlock(part.result, "llm-result") : notRecorded());
        return box;
      }
      case "uri": {
        const label = [part.modality, part.mime_type].filter(Boolean).join(" · ") || "link";
        const href = safeHref(part.uri);
        return h("div", { class: "llm-part llm-uri" }, h("span", { class: "llm-media" }, label),
          href ? link(href, part.uri) : h("span", { class: "llm-unlinked" }, part.uri || "(no URI)"));
      }
      case "file":
        return h("div", { class: "llm-part llm-file" }, h("span", { class: "llm-media" }, [part.modality || "file", part.mime_type].filter(Boolean).join(" · ")),
          h("code", { title: "file id at the provider" }, part.file_id || "(no id)"));
      case "blob":
        return h("div", { class: "llm-part llm-blob" }, h("span", { class: "llm-media" }, [part.modality, part.mime_type].filter(Boolean).join(" · ") || "binary"),
          h("span", { class: "llm-muted" }, (bytes(part.bytes) || "content not recorded") + " inline"));
      default: {
        const box = h("div", { class: "llm-part llm-other" }, h("div", { class: "llm-part-head" }, "part of type ", h("code", {}, String(part.kind || part.type))));
        box.append(valueBlock(part.data, "llm-other-data"));
        return box;
      }
    }
  }

  function messageElement(message) {
    const role = String(message.role || "unknown");
    const toolOnly = message.parts.length > 0 && message.parts.every((p) => p.type === "tool_result");
    const classes = ["llm-msg", "role-" + (ROLE_NAMES[role] ? role : "other")];
    if (toolOnly) classes.push("tool-results");
    if (message.response) classes.push("response");
    const head = h("div", { class: "llm-msg-head" }, h("span", { class: "llm-role" }, ROLE_NAMES[role] || role));
    if (message.response) head.append(h("span", { class: "llm-badge response" }, "response"));
    if (message.finish_reason) head.append(h("span", { class: "llm-badge", title: "finish reason" }, message.finish_reason));
    const element = h("div", { class: classes.join(" "), "data-role": role }, head);
    if (!message.parts.length) element.append(h("div", { class: "llm-part" }, notRecorded()));
    for (const part of message.parts) element.append(partElement(part));
    return element;
  }

  // -- the panel --------------------------------------------------------------------------------

  const KIND_TITLES = { chat: "Model call", agent: "Agent run", tool: "Tool call" };

  function usageText(usage) {
    const bits = [];
    if (usage.input_tokens !== undefined) bits.push(usage.input_tokens.toLocaleString() + " in");
    if (usage.output_tokens !== undefined) bits.push(usage.output_tokens.toLocaleString() + " out");
    if (usage.cache_read_tokens) bits.push(usage.cache_read_tokens.toLocaleString() + " cache read");
    if (usage.cache_write_tokens) bits.push(usage.cache_write_tokens.toLocaleString() + " cache write");
    if (!bits.length && usage.total_tokens !== undefined) bits.push(usage.total_tokens.toLocaleString() + " total");
    return bits.length ? bits.join(" · ") + " tokens" : "";
  }

  /** The panel for one span's `conversation` (see query/llm_messages.py for its shape). */
  function panel(conversation) {
    const kind = conversation.kind;
    const root = h("section", { class: "llm-panel kind-" + kind, id: "llm-panel", "data-kind": kind, "data-format": conversation.format });
    const head = h("div", { class: "llm-head" }, h("span", { class: "llm-kind" }, KIND_TITLES[kind] || kind));
    if (conversation.model) head.append(h("span", { class: "llm-model", title: "model" }, conversation.model));
    if (conversation.provider) head.append(h("span", { class: "llm-provider", title: "provider" }, conversation.provider));
    const usage = usageText(conversation.usage || {});
    if (usage) head.append(h("span", { class: "llm-usage" }, usage));
    root.append(head);

    if (kind === "tool" && conversation.tool) {
      const tool = conversation.tool;
      root.append(h("div", { class: "llm-tool-title" }, h("span", { class: "llm-tool-name" }, tool.name || "(unnamed tool)"),
        tool.call_id ? h("span", { class: "llm-call-id", title: "tool call id" }, tool.call_id) : null));
      if (tool.retry) {
        const attempt = tool.retry.attempt !== null && tool.retry.attempt !== undefined ? ` (attempt ${tool.retry.attempt}${tool.retry.max_retries !== null && tool.retry.max_retries !== undefined ? " of " + tool.retry.max_retries : ""})` : "";
        root.append(h("div", { class: "llm-retry" }, "The tool asked the model to try again" + attempt + ": the result below is the retry message."));
      }
      root.append(h("div", { class: "llm-section-title" }, "Arguments"),
        h("div", { class: "llm-tool-args" }, "arguments" in tool ? valueBlock(tool.arguments, "llm-args") : notRecorded()),
        h("div", { class: "llm-section-title" }, "Result"),
        h("div", { class: "llm-tool-output" }, "result" in tool ? valueBlock(tool.result, "llm-result") : h("span", { class: "llm-muted" }, "(no result: the call failed or is still running)")));
      return root;
    }

    if (conversation.instructions && conversation.instructions.length) {
      const box = h("div", { class: "llm-instructions" }, h("div", { class: "llm-msg-head" }, h("span", { class: "llm-role" }, "System instructions")));
      for (const part of conversation.instructions) box.append(partElement(part));
      root.append(box);
    }
    const list = h("div", { class: "llm-messages" });
    for (const message of conversation.messages || []) list.append(messageElement(message));
    if (!(conversation.messages || []).length) {
      list.append(h("p", { class: "llm-muted" }, kind === "agent" ? "This agent run carries no messages." : "This model call carries no messages (content not recorded)."));
    }
    root.append(list);

    if ("final_result" in conversation) {
      const value = conversation.final_result;
      root.append(h("div", { class: "llm-final" }, h("div", { class: "llm-msg-head" }, h("span", { class: "llm-role" }, "Final result")),
        typeof value === "string" ? h("div", { class: "llm-part llm-text" }, textBlock(value)) : valueBlock(value, "llm-final-value")));
    }
    return root;
  }

  window.SpyglassLLM = { panel, markdown, safeHref };
})();
