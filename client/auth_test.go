package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/zocket-go/zocket"
	"github.com/zocket-go/zocket/auth"
	"github.com/zocket-go/zocket/client"
	"github.com/zocket-go/zocket/internal/testwait"
	"github.com/zocket-go/zocket/standalone"
)

// With TokenFunc, a connection closed because its token expired comes
// back with a fresh token, and calls go on.
func TestTokenFuncRenewsExpiredTokens(t *testing.T) {
	secret := []byte("client test secret")
	a, err := auth.NewJWT(auth.JWTConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startStandalone(t, boardApp(t, nil), standalone.Config{Authenticator: a}, nil)
	var issued atomic.Int64
	c := dial(t, url, &client.Options{TokenFunc: func(context.Context) (string, error) {
		issued.Add(1)
		return jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"sub": "ada", "exp": jwt.NewNumericDate(time.Now().Add(2 * time.Second)),
		}).SignedString(secret)
	}})
	ctx := testCtx(t)
	b := c.Actor("board", "tokens")
	if _, err := client.CallT[int](ctx, b, "add", AddInput{N: 1}); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 20*time.Second, "a second token for the reconnect after expiry", func() (bool, string) {
		return issued.Load() >= 2, fmt.Sprintf("%d tokens issued", issued.Load())
	})
	if n, err := client.CallT[int](ctx, b, "add", AddInput{N: 1}); err != nil || n != 2 {
		t.Fatalf("call after the renewal: %d, %v", n, err)
	}
}

func TestTokenFuncErrors(t *testing.T) {
	_, err := client.Dial(t.Context(), "ws://127.0.0.1:1/", &client.Options{Token: "x",
		TokenFunc: func(context.Context) (string, error) { return "y", nil }})
	if !errors.Is(err, client.ErrInvalidOption) {
		t.Fatalf("Token and TokenFunc: %v, want ErrInvalidOption", err)
	}
	boom := errors.New("no token today")
	_, err = client.Dial(t.Context(), "ws://127.0.0.1:1/", &client.Options{
		TokenFunc: func(context.Context) (string, error) { return "", boom }})
	if !errors.Is(err, boom) {
		t.Fatalf("failing TokenFunc: %v, want its error", err)
	}
}

// A subscription the server refuses fails WatchState at once with a
// *SubError carrying the server's reason, and a later watch asks again.
func TestWatchStateRefused(t *testing.T) {
	type vault struct {
		Owner string `json:"owner"`
		Count int    `json:"count"`
	}
	a := zocket.NewActor("vault", func() vault { return vault{Owner: "ada"} })
	zocket.Method(a, "add", func(s *vault, c *zocket.Call, _ struct{}) (int, error) { s.Count++; return s.Count, nil })
	a.AuthorizeSubscription(func(s *vault, c *zocket.Call, _ zocket.Subscription) error {
		if c.UserID() != s.Owner {
			return zocket.Reject("only the owner watches a vault")
		}
		return nil
	})
	app, err := zocket.NewApp(a)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("watch test secret")
	authn, err := auth.NewJWT(auth.JWTConfig{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	url, _ := startStandalone(t, app, standalone.Config{Authenticator: authn}, nil)
	token := func(user string) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": user}).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := testCtx(t)
	eve := dial(t, url, &client.Options{Token: token("eve")})
	start := time.Now()
	_, err = eve.Actor("vault", "v1").WatchState(ctx)
	var se *client.SubError
	if !errors.As(err, &se) || se.Message != "only the owner watches a vault" || se.Refused != "state:sub" || se.ActorID != "v1" {
		t.Fatalf("eve's watch: %v, want a SubError", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("refusal took %v", took)
	}
	// Asking again asks the server again (and is refused again).
	if _, err := eve.Actor("vault", "v1").WatchState(ctx); !errors.As(err, &se) {
		t.Fatalf("second watch: %v", err)
	}

	ada := dial(t, url, &client.Options{Token: token("ada")})
	w, err := ada.Actor("vault", "v1").WatchState(ctx)
	if err != nil {
		t.Fatalf("owner's watch: %v", err)
	}
	defer w.Close()
	var v vault
	if err := w.Decode(&v); err != nil || v.Owner != "ada" {
		t.Fatalf("owner sees %+v, %v", v, err)
	}
}
