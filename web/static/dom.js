// DOM helpers shared by the pages' scripts. Client values always become text nodes or attribute
// values, never HTML.
(function () {
  "use strict";
  /** h("a", {href: url}, "text", childNode): an element with attributes and children. */
  function h(tag, attrs, ...children) {
    const element = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value !== undefined && value !== null && value !== false) element.setAttribute(key, String(value));
    }
    for (const child of children) {
      if (child === undefined || child === null || child === false) continue;
      element.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return element;
  }
  window.Spyglass = Object.assign(window.Spyglass || {}, { h });
})();
