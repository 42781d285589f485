// The JavaScript HTTP handler of kiln's HTTP guest contract (issue 16), built with
// componentize-js (StarlingMonkey) for the wasi:http/proxy world of wit/handler.wit: the
// runtime's `fetch` event implements wasi:http/incoming-handler. The routes are the Rust
// handler's (tests/wasi-guests/http-handler), except `/trailers`, which the fetch API cannot
// produce (404 here), and `/trap-after-head`, whose body stream errors after `partial`
// instead of trapping (JavaScript has no trap; the host sees an aborted body).

const TEXT = { "content-type": "text/plain" };

/** A text/plain response. */
function text(status, body, headers = {}) {
  return new Response(body, { status, headers: { ...TEXT, ...headers } });
}

/** GET /big: `n` bytes of the alphabet, repeated, in chunks of at most 64 KiB. */
function big(n) {
  const CHUNK = 64 * 1024;
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (sent >= n) {
        controller.close();
        return;
      }
      const len = Math.min(CHUNK, n - sent);
      const chunk = new Uint8Array(len);
      for (let i = 0; i < len; i++) {
        chunk[i] = 97 + ((sent + i) % 26);
      }
      sent += len;
      controller.enqueue(chunk);
    },
  });
  return new Response(body, {
    status: 200,
    headers: { "content-type": "application/octet-stream" },
  });
}

/** GET /headers: every request header as `name: value\n`, sorted by name then value. */
function headersText(request) {
  const lines = [];
  for (const [name, value] of request.headers) {
    lines.push([name.toLowerCase(), value]);
  }
  lines.sort((a, b) =>
    a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0,
  );
  return lines.map(([n, v]) => `${n}: ${v}\n`).join("");
}

/** GET /fetch?url=URL: the upstream status and `fetched N bytes: <first 64 bytes>`. */
async function fetchUrl(url) {
  try {
    const upstream = await fetch(url);
    const bytes = new Uint8Array(await upstream.arrayBuffer());
    const head = new TextDecoder().decode(bytes.subarray(0, 64));
    return text(upstream.status, `fetched ${bytes.length} bytes: ${head}`);
  } catch (e) {
    return text(502, String(e));
  }
}

/** GET /trap-after-head: a 200 head and `partial`, then a failing body. */
function trapAfterHead() {
  let step = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (step++ === 0) {
        controller.enqueue(new TextEncoder().encode("partial"));
      } else {
        controller.error(new Error("trap after head"));
      }
    },
  });
  return new Response(body, { status: 200, headers: TEXT });
}

/** Routes one request. */
async function handle(request) {
  const url = new URL(request.url);
  const method = request.method;
  const path = url.pathname;
  const get = method === "GET";
  if (get && path === "/") {
    return text(200, "hello from kiln-http-guest\n");
  }
  if (method === "POST" && path === "/echo") {
    const type = request.headers.get("content-type");
    return new Response(request.body, {
      status: 200,
      headers: type === null ? {} : { "content-type": type },
    });
  }
  if (get && path === "/headers") {
    return text(200, headersText(request));
  }
  if (get && path === "/info") {
    const scheme = url.protocol ? url.protocol.replace(/:$/, "") : "-";
    const authority = url.host || "-";
    return text(
      200,
      `method=${method}\npath=${path}${url.search}\nscheme=${scheme}\nauthority=${authority}\n`,
    );
  }
  if (get && path === "/big") {
    const bytes = url.searchParams.get("bytes");
    const n = bytes !== null && /^[0-9]+$/.test(bytes) ? Number(bytes) : NaN;
    return Number.isSafeInteger(n) ? big(n) : text(400, "bad bytes\n");
  }
  if (get && path.startsWith("/status/")) {
    const digits = path.slice("/status/".length);
    const code = /^[0-9]{1,5}$/.test(digits) ? Number(digits) : NaN;
    // The fetch API allows 200..=599 only.
    if (code >= 200 && code <= 599) {
      return new Response(null, { status: code });
    }
    return text(400, "bad status\n");
  }
  if (get && path === "/trap") {
    throw new Error("trap requested");
  }
  if (get && path === "/trap-after-head") {
    return trapAfterHead();
  }
  if (get && path === "/fetch") {
    const target = url.searchParams.get("url");
    return target === null ? text(400, "missing url\n") : fetchUrl(target);
  }
  return text(404, "not found\n");
}

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
