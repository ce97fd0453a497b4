package auth

import (
	"net/http"
	"strings"
)

// SubprotocolPrefix marks a WebSocket subprotocol that carries a token:
// browsers cannot set headers on a WebSocket, but they can offer
// subprotocols, so a browser client offers "zocket.bearer.<token>". The
// server does not select it (a client may offer it alone: a response
// without a subprotocol is accepted).
const SubprotocolPrefix = "zocket.bearer."

// maxToken bounds a token: JWTs of real deployments are a few KiB, and
// headers are bounded by the HTTP server anyway.
const maxToken = 16 << 10

// Token returns the client's token from r: the Authorization header's
// Bearer credential, else a subprotocol with SubprotocolPrefix, else the
// "token" query parameter. ok is false when none holds a token (an empty
// or oversized one counts as none).
func Token(r *http.Request) (token string, ok bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, cred, found := strings.Cut(h, " ")
		if found && strings.EqualFold(scheme, "Bearer") {
			return usable(strings.TrimSpace(cred))
		}
	}
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if tok, found := strings.CutPrefix(strings.TrimSpace(p), SubprotocolPrefix); found {
				return usable(tok)
			}
		}
	}
	if r.URL != nil {
		if q := r.URL.Query(); q.Has("token") {
			return usable(q.Get("token"))
		}
	}
	return "", false
}

func usable(tok string) (string, bool) {
	if tok == "" || len(tok) > maxToken {
		return "", false
	}
	return tok, true
}
