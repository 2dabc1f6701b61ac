package blob

import (
	"context"

	"github.com/dvpc/dvpc/internal/errors"
)

// Unreachable returns a store that fails every call with errors.Unavailable
// and the given reason: the stand-in for a mirror that is unplugged or out
// of reach, so that what a PC already knows stays readable.
func Unreachable(reason string) Store { return unreachable(reason) }

type unreachable string

func (u unreachable) err(name string) error {
	return errors.E(errors.Op("blob.Unreachable"), errors.Unavailable, name, errors.Str(string(u)))
}

func (u unreachable) Put(_ context.Context, name string, _ []byte) error { return u.err(name) }

func (u unreachable) Get(_ context.Context, name string, _, _ int64) ([]byte, error) {
	return nil, u.err(name)
}

func (u unreachable) Stat(_ context.Context, name string) (Info, error) { return Info{}, u.err(name) }

func (u unreachable) List(_ context.Context, prefix string, _ func(Info) error) error {
	return u.err(prefix)
}

func (u unreachable) Delete(_ context.Context, name string) error { return u.err(name) }
