// Renders /openapi.json as a reference: operations by tag, with their
// security, parameters, bodies and responses, then the schemas. Text is
// only ever set with textContent: the document is data, never markup.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

function refName(ref) {
  return ref ? ref.split("/").pop() : "";
}

function typeOf(schema) {
  if (!schema) return "";
  if (schema.$ref) return refName(schema.$ref);
  if (schema.type === "array") return typeOf(schema.items) + "[]";
  let t = Array.isArray(schema.type) ? schema.type.join(" | ") : (schema.type || "");
  if (schema.format) t += " (" + schema.format + ")";
  if (schema.enum) t += ": " + schema.enum.join(", ");
  if (schema.const !== undefined) t += " = " + schema.const;
  return t;
}

function schemaLink(schema) {
  const name = schema && schema.$ref ? refName(schema.$ref) : "";
  if (!name) return el("code", {}, typeOf(schema));
  return el("a", { href: "#schema-" + name }, el("code", {}, name));
}

function securityText(op, doc) {
  const reqs = op.security !== undefined ? op.security : (doc.security || []);
  if (reqs.length === 0) return "none (public)";
  return reqs.map((r) => Object.entries(r)
    .map(([scheme, scopes]) => scheme + (scopes.length ? " [" + scopes.join(" ") + "]" : ""))
    .join(" + ") || "anonymous").join("  or  ");
}

function resolve(doc, obj) {
  if (obj && obj.$ref) {
    const parts = obj.$ref.replace(/^#\//, "").split("/");
    let cur = doc;
    for (const p of parts) cur = cur ? cur[p] : undefined;
    return cur || obj;
  }
  return obj;
}

function operation(doc, path, method, op) {
  const body = el("div");
  if (op.description) body.append(el("p", {}, op.description));
  body.append(el("p", {}, el("strong", {}, "Security: "), securityText(op, doc)));
  const params = (op.parameters || []).map((p) => resolve(doc, p));
  if (params.length) {
    const t = el("table", {}, el("tr", {}, el("th", {}, "Parameter"), el("th", {}, "In"), el("th", {}, "Type"), el("th", {}, "Description")));
    for (const p of params) {
      t.append(el("tr", {}, el("td", {}, el("code", {}, p.name + (p.required ? " *" : ""))), el("td", {}, p.in),
        el("td", {}, typeOf(p.schema)), el("td", {}, p.description || "")));
    }
    body.append(t);
  }
  if (op.requestBody) {
    const rb = resolve(doc, op.requestBody);
    for (const [ct, media] of Object.entries(rb.content || {})) {
      body.append(el("p", {}, el("strong", {}, "Body "), el("code", {}, ct), ": ", schemaLink(media.schema)));
    }
  }
  const rt = el("table", {}, el("tr", {}, el("th", {}, "Status"), el("th", {}, "Description"), el("th", {}, "Body")));
  for (const [code, r0] of Object.entries(op.responses || {})) {
    const r = resolve(doc, r0);
    const media = r.content ? Object.values(r.content)[0] : null;
    rt.append(el("tr", {}, el("td", {}, code), el("td", {}, r.description || ""), el("td", {}, media ? schemaLink(media.schema) : "")));
  }
  body.append(rt);
  const id = "op-" + (op.operationId || method + path);
  return el("details", { class: "op", id: id },
    el("summary", {}, el("span", { class: "method " + method }, method), " ", el("span", { class: "path" }, path),
      " ", el("span", { class: "muted" }, op.summary ? "— " + op.summary.split("\n")[0] : "")),
    body);
}

function render(doc) {
  document.getElementById("title").textContent = doc.info.title;
  const servers = (doc.servers || []).map((s) => s.url).join(", ");
  document.getElementById("meta").textContent =
    "Version " + doc.info.version + " · OpenAPI " + doc.openapi + (servers ? " · Server " + servers : "");
  const content = document.getElementById("content");
  const toc = document.getElementById("toc");
  content.textContent = "";
  if (doc.info.description) content.append(el("p", {}, doc.info.description));

  content.append(el("h2", { id: "security" }, "Security schemes"));
  const st = el("table", {}, el("tr", {}, el("th", {}, "Name"), el("th", {}, "Type"), el("th", {}, "Description")));
  for (const [name, s] of Object.entries((doc.components || {}).securitySchemes || {})) {
    st.append(el("tr", {}, el("td", {}, el("code", {}, name)), el("td", {}, s.type + (s.scheme ? " " + s.scheme : "")), el("td", {}, s.description || "")));
  }
  content.append(st);
  toc.append(el("a", { href: "#security" }, "Security"));

  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of ["get", "put", "post", "delete", "patch"]) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, op]);
    }
  }
  for (const tag of [...byTag.keys()].sort()) {
    content.append(el("h2", { id: "tag-" + tag }, tag));
    toc.append(el("a", { href: "#tag-" + tag }, tag));
    const ops = byTag.get(tag).sort((a, b) => a[0].localeCompare(b[0]) || a[1].localeCompare(b[1]));
    for (const [path, method, op] of ops) content.append(operation(doc, path, method, op));
  }

  content.append(el("h2", { id: "schemas" }, "Schemas"));
  toc.append(el("a", { href: "#schemas" }, "Schemas"));
  for (const [name, s] of Object.entries((doc.components || {}).schemas || {}).sort((a, b) => a[0].localeCompare(b[0]))) {
    const d = el("details", { class: "op", id: "schema-" + name }, el("summary", {}, el("code", {}, name)));
    const inner = el("div");
    if (s.description) inner.append(el("p", {}, s.description));
    const props = Object.entries(s.properties || {});
    if (props.length) {
      const t = el("table", {}, el("tr", {}, el("th", {}, "Field"), el("th", {}, "Type"), el("th", {}, "Description")));
      const required = new Set(s.required || []);
      for (const [pn, ps] of props) {
        t.append(el("tr", {}, el("td", {}, el("code", {}, pn + (required.has(pn) ? " *" : ""))), el("td", {}, schemaLink(ps)),
          el("td", {}, ps.description || "")));
      }
      inner.append(t);
    } else {
      inner.append(el("p", {}, el("code", {}, typeOf(s))));
    }
    d.append(inner);
    content.append(d);
  }
  if (location.hash) {
    const target = document.getElementById(location.hash.slice(1));
    if (target) {
      if (target.tagName === "DETAILS") target.open = true;
      target.scrollIntoView();
    }
  }
}

fetch("/openapi.json", { headers: { Accept: "application/json" } })
  .then((r) => {
    if (!r.ok) throw new Error("HTTP " + r.status);
    return r.json();
  })
  .then(render)
  .catch((err) => {
    document.getElementById("content").textContent = "Could not load /openapi.json: " + err.message;
  });
