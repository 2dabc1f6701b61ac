package blob

import (
	"context"
	"strings"
)

// Sub returns a store that sees only the objects of s under prefix (which
// must end in "/"), with the prefix removed from their names.
func Sub(s Store, prefix string) Store {
	return &sub{s: s, prefix: prefix}
}

type sub struct {
	s      Store
	prefix string
}

func (b *sub) Put(ctx context.Context, name string, data []byte) error {
	return b.s.Put(ctx, b.prefix+name, data)
}

func (b *sub) Get(ctx context.Context, name string, off, length int64) ([]byte, error) {
	return b.s.Get(ctx, b.prefix+name, off, length)
}

func (b *sub) Stat(ctx context.Context, name string) (Info, error) {
	i, err := b.s.Stat(ctx, b.prefix+name)
	i.Name = strings.TrimPrefix(i.Name, b.prefix)
	return i, err
}

func (b *sub) List(ctx context.Context, prefix string, fn func(Info) error) error {
	return b.s.List(ctx, b.prefix+prefix, func(i Info) error {
		i.Name = strings.TrimPrefix(i.Name, b.prefix)
		return fn(i)
	})
}

func (b *sub) Delete(ctx context.Context, name string) error {
	return b.s.Delete(ctx, b.prefix+name)
}
