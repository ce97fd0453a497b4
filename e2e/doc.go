// Package e2e holds Zocket's browser end-to-end tests: the demo pages of
// package web, served with the demo actors (counter, chat, canvas), driven
// in headless Chromium through chromedp.
//
// The package has no API; everything is in its tests. It is a module of
// its own, so that chromedp is no dependency of the zocket module; its
// go.mod replaces zocket with the checkout above. From the repository's
// root, .ci/test runs these tests with the others, or alone:
//
//	go -C e2e test -race ./...
//
// They need Debian's chromium (or the browser named by ZOCKET_CHROMIUM).
// Without one the tests skip, unless ZOCKET_BROWSER_TESTS=1 is set, as in
// CI, where a missing browser fails them. Each test starts its own server
// on a random loopback port, once per server shape: standalone (package
// standalone), and dev (package cli's "zocket dev": embedded NATS with
// JetStream, runtime and gateway, reached at the URL it prints). The
// gateway-restart test wires NATS, runtime and gateway itself, so that the
// gateway can restart alone. Pages open in separate browser contexts of one
// shared Chromium process.
//
// With ZOCKET_UPDATE_SCREENSHOTS=1 the tests also write a screenshot of
// each demo page to docs/screenshots (landing.png, counter.png, chat.png,
// canvas.png) for the README; otherwise they only check that the
// screenshots can be taken.
package e2e
