// Package actors holds the demo actor types (counter, chat, canvas) shared by
// the runnable examples, the zocket dev server and the tests. Each
// subpackage exports Actor(), which returns a fresh definition.
package actors
