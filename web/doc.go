// Package web serves the Zocket browser client and the demo pages, embedded
// in the Go binary so that every server shape can offer them without files
// on disk.
//
// [Handler] answers GET and HEAD for:
//
//   - /zocket.js, /patch.js: the ES module client (no build step) and the
//     JSON Patch module it imports, with their TypeScript declarations at
//     /zocket.d.ts and /patch.d.ts;
//   - /react-core.js: the client's React hooks, bound at run time to the
//     React a page loaded (declarations /react-core.d.ts and /react.d.ts);
//   - / (also /index.html): the landing page, and the demo apps
//     /counter.html, /chat.html and /canvas.html with their scripts and
//     stylesheet, and /react.html, the counter built with the React hooks
//     on React 18's UMD builds (/react.production.min.js and
//     /react-dom.production.min.js, vendored: demo/react.LICENSE.txt).
//
// Everything else is 404. The WebSocket endpoint shares the path "/" with the
// landing page: hosts send upgrade requests to their WebSocket handler and
// plain requests to [Handler]. The client sources also form an npm package in
// the client folder of this directory.
//
// # Concurrency
//
// The handler is read-only and safe for concurrent use.
package web
