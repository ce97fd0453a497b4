package client_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

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
